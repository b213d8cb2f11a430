import { createApp } from "./app.js";
import { workerdImageCodecs } from "./image/codecs-workerd.js";
import { startOrtInWorkerd } from "./runtime/ort-workerd.js";

export default createApp(startOrtInWorkerd, workerdImageCodecs);
