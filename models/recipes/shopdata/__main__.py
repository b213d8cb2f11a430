from . import _self_check, generate
import json
_self_check()
for c in generate("test", 3, 0):
    print(json.dumps(c, ensure_ascii=False))
