"""Training-only phrasing grammar for shopdata user turns (English + Simplified Chinese).

The fixed templates in shopdata/__init__.py give each intent a few dozen training sentences; a small model
trained from scratch on them learns the sentences rather than the request. This grammar composes
requests from interchangeable parts (openers, verbs, objects, complaints, closers), so one intent is
written in thousands of ways and the model has to key on what is asked.

Syntax: `[a|b|c]` picks one alternative (an empty alternative makes the group optional), groups nest,
`{order}`, `{product}`, `{city}`, `{name}` are slots. The grammar was written after the test templates
existed; it shares everyday words with them, but `realise` rejects any sentence that a test template
(with any slot value) would produce, so no held-out template is ever generated for training.
"""
import functools
import re

_G = {
    ("order_status", "with", "en"): [
        "[where is|where's|what happened to|what is going on with|what's up with|what is the status of|"
        "what's the status of|status update for|can I get an update on|can you give me an update on|"
        "I need an update on|is there an update on|do you have an update on|please check|could you check|"
        "can you look up|please look up|please track|can you track|I want to track|I'd like to track|"
        "help me track|help me find|I can't find|I'm worried about|any information on|what about|"
        "tracking info for|delivery status for|I want to know about|tell me about] "
        "[my order|order|order number|my package|my parcel|my delivery|my shipment|the order|purchase|"
        "my purchase|order no.|order #|] {order}[?|.|!| please.|, thanks.|, it is late.|, it's been a week.|"
        " asap.| thank you.]",
        "[my order|order|my package|the parcel|the package|my shipment|purchase|delivery] {order} "
        "[hasn't arrived|has not arrived yet|is late|is missing|is still not here|never came|didn't come|"
        "is delayed|is taking forever|seems lost|was supposed to come yesterday|is overdue|got stuck]"
        "[.|!| yet.|, can you help?|, what's going on?|, please check.|, where is it?]",
        "[has|was] [my order|order|the parcel|my package|the shipment] {order} "
        "[shipped|sent|dispatched|sent out|handed to the courier][ yet|][?]",
        "did [my order|order|the parcel|my package|the shipment] {order} [ship|arrive|leave the warehouse|go out]"
        "[ yet|][?]",
        "[when|what day|what time] [will|does|is] [my order|order|the package|my parcel|delivery] {order} "
        "[arrive|get here|come|be here|ship|going to arrive|supposed to arrive][?]",
        "[order number|order no.|order #|order id|tracking number|reference|order ref] {order}[:|,| -] "
        "[where is it|any update|status please|is it shipped|has it shipped|when will it arrive|not received yet|"
        "can you check it|still missing|what's the status][?|.]",
        "{order}[ -|:|,|] [status|tracking|location|delivery date|where is it|shipped yet|update please][?|.|]",
        "I [ordered|bought|purchased] [something|a few things|an item|some stuff|a gift|two items] "
        "[last week|on Monday|ten days ago|a while ago|recently|last month|on the weekend][,|.] "
        "[the order number is|order number|my order is|it's order|reference|order id] {order}"
        "[. Where is it?|. When does it arrive?|. It hasn't come yet.|, can you check?|. Any update?|.]",
        "[I'm|I am] [still |]waiting for [order|my order|the delivery of order|my parcel, number|order number] "
        "{order}[.|!|, where is it?|, is it coming?]",
        "[can|could|would] you [please |][check|track|look up|find|look into|trace] [order|my order|order number|"
        "my parcel|] {order}[ for me|][?| please?]",
    ],
    ("order_status", "with", "zh"): [
        "[我的|][订单|订单号|单号|快递单|包裹|]{order}[到哪了|到哪里了|在哪|在哪里|现在在哪|怎么还没到|还没到|什么时候到|"
        "什么时候能到|什么时候发货|发货了没|发货了吗|有更新吗|有进展吗|的物流呢|的状态呢|怎么样了|是什么情况|还要多久|"
        "一直没动|卡住了吗|寄出了吗][？|。|！|]",
        "[帮我|麻烦|请|请帮我|能不能帮我|可以帮我|麻烦你][查|查一下|查查|看看|看一下|跟踪|追踪|确认一下|核实一下]"
        "[订单|单号|订单号|包裹|]{order}[的物流|的状态|的进度|的配送情况|到哪了|的快递|][。|？|！|]",
        "我[上周|前天|昨天|上个月|三天前|前几天|周末][买的|下的单|订的][东西|商品|衣服|鞋子|礼物|]，"
        "[订单号|单号|订单号是|单号是|订单是]{order}，[还没到|到哪了|怎么还没发货|能查一下吗|什么时候到|一直没收到]"
        "[？|。|]",
        "[订单号|单号|订单|编号]{order}[：|，| |][查物流|到哪了|查询状态|怎么还没到|发货没有|请查一下|什么情况]"
        "[？|。|]",
        "[我还在等|一直在等|等了好久]{order}[这个订单|这个包裹|的快递|][，|][怎么还没来|到哪了|什么时候到|]"
        "[？|。|！]",
        "{order}[这个订单|这个包裹|这单|][到底|][到哪了|发货了没|什么时候送到|怎么还没到|有物流吗][？|。]",
    ],
    ("order_status", "ask", "en"): [
        "[where is|where's|what happened to|any update on|can you check|can you track|I want to track|"
        "help me track|please check|I'd like to check|what's the status of|status of|how is] "
        "[my order|my package|my parcel|my delivery|my shipment|my stuff|the things I ordered|my purchase]"
        "[?|.|!| please.]",
        "[my order|my package|my parcel|my delivery|my shipment|the stuff I bought] "
        "[hasn't arrived|is late|is missing|didn't come|is delayed|hasn't shipped|never came|is taking too long]"
        "[ yet|][.|!|, what's going on?|, can you help?]",
        "[when will|when does|when is] [my order|my package|my parcel|my delivery|my stuff] "
        "[arrive|come|get here|ship|going to come][?]",
        "[has|was] my [order|package|parcel|shipment] [shipped|sent|dispatched][ yet|][?]",
        "did my [order|package|parcel|shipment] [ship|arrive|leave the warehouse][ yet|][?]",
        "I [haven't received|never got|did not get|still don't have] [my order|my package|my parcel|what I ordered|"
        "my delivery][.|!| yet.|, please check.]",
        "I [want|need|would like] [to know|to check|an update on] [where my order is|my order status|"
        "where my parcel is|my delivery status][.|?| please.]",
    ],
    ("order_status", "ask", "zh"): [
        "[我的|][订单|包裹|快递|东西|货][到哪了|在哪里|怎么还没到|还没到|什么时候到|发货了吗|有更新吗|丢了吗|"
        "还没收到|怎么这么慢|到底什么时候来][？|。|！]",
        "[帮我|请|麻烦|能不能][查|查一下|看看|跟踪一下|确认一下][我的][订单|包裹|快递|物流|订单状态][。|？|]",
        "我[还没收到|一直没收到|没收到|到现在都没收到][货|包裹|快递|我买的东西|订单][。|！|]",
        "[我还在等|我一直在等|等了好几天][我的|][包裹|快递|订单|货][。|，怎么回事？|！]",
        "[我想|我要|想][查|查一下|知道|问问][订单|物流|快递|包裹][状态|到哪了|进度|][。|？|]",
    ],
    ("order_status", "number", "en"): [
        "[it's|it is|the number is|the order number is|order number|number|sure, it's|ok, it's|yes, |sure: |"
        "that would be|I think it's|it was|my order is|order] {order}[.|!|]",
        "{order}[ is the number| is my order number| is the order|][.|]",
        "[here it is|here|there you go|ok here|yes|sure thing|one moment, it's|found it|let me see, it's|that is]"
        "[:|,|.| -] {order}[.|!|]",
    ],
    ("order_status", "number", "zh"): [
        "[是|订单号是|单号是|号码是|订单号|单号|好的，|嗯，|我的订单号是|应该是|我记得是]{order}[。|！|]",
        "{order}[，就是这个|是我的订单号|这个|][。|]",
    ],
    ("returns_refunds", "-", "en"): [
        "[I want to|I'd like to|I need to|can I|how do I|how can I|is it possible to|please help me|I wish to] "
        "[return|send back|exchange|get a refund for|get my money back for|give back|bring back] "
        "[my|the|this|a] {product}[?|.|!]",
        "[the|my] {product} [is broken|is damaged|doesn't work|is faulty|arrived broken|came damaged|is too small|"
        "is too big|doesn't fit|is the wrong color|is not what I ordered|stopped working|has a defect]"
        "[,|.] [I want a refund|I want to return it|can I send it back|I want my money back|how do I return it|"
        "what can I do|refund please][.|?]",
        "[what is|what's|tell me|explain] your [return|refund|returns|exchange] policy[?|.]",
        "[how long|how many days] [does a refund take|until I get my refund|until the refund arrives|"
        "before I get the money back|does it take to get refunded][?]",
        "[refund|return|money back|exchange] for [my|the|a] {product}[, please| please|][.|?|]",
        "[do you|can you|will you] [accept returns|give refunds|refund me|take back items|do exchanges][?]",
        "I [don't want|don't like|am unhappy with|am not satisfied with|regret buying] the {product}"
        "[, can I return it?|, refund please.|. How do I get my money back?|. Can I send it back?]",
        "[where is|when do I get|I'm still waiting for|any news on] my refund[?|.]",
        "[can I|I want to] [return|send back] [an item|something|a product|my purchase|what I bought][?|.]",
    ],
    ("returns_refunds", "-", "zh"): [
        "[我想|我要|能不能|可以|怎么|请问怎么|如何][退|退货|退掉|退款|换货|退回][这个|我的|][{product}|东西|商品|]"
        "[？|。|！|]",
        "[{product}|东西|商品|买的{product}][坏了|有问题|有质量问题|不能用|到货就坏了|尺寸不对|太大了|太小了|颜色不对|"
        "发错了|用不了][，|。][我要退款|我要退货|能退吗|怎么退|怎么办|退钱吧][。|？|！]",
        "[你们的|][退货|退款|退换货][政策|规定|流程|规则][是什么|是怎样的|怎么样|][？|。]",
        "[退款|退钱][要多久|多久到账|什么时候到|几天能到|还没到账][？|。]",
        "[请|麻烦|帮我][给我|][退|办理][{product}的|][退款|退货][。|！|]",
        "我[不想要|不喜欢|不满意][这个|][{product}|东西][了|]，[能退吗|要退款|怎么退货|可以退钱吗][？|。]",
        "[你们|][支持|接受|可以][退货|退款|换货][吗|][？]",
    ],
    ("shipping", "time", "en"): [
        "[how long|how many days|how much time] [does|will] [shipping|delivery|it] take[ to {city}|][?]",
        "[when|how soon|how fast] [will|would|can] [it|my order|the package|things] [arrive|get here|be delivered|"
        "reach me|come][ in {city}| to {city}|][ if I order today| if I buy now|][?]",
        "[when|how soon|how fast|how many days until] [will|would|can|does] [it|my order|the package|a parcel] "
        "[reach|get to|make it to|be in] [{city}|me|my place|my door][ if I order now| after I pay|][?]",
        "[what is|what's|tell me] the [delivery|shipping] time[ to {city}| for {city}|][?|.]",
        "[do you have|is there|can I get|do you offer] [express|fast|next-day|same-day|quick] [delivery|shipping]"
        "[ to {city}|][?]",
        "[how fast|how quickly] do you [ship|deliver|send orders][ to {city}|][?]",
        "[standard|express|normal] [delivery|shipping] [time|duration|takes how long][ to {city}|][?]",
    ],
    ("shipping", "time", "zh"): [
        "[寄到|送到|发到|到][{city}|我这里|这边][要|需要|大概要|一般要][多久|几天|多长时间][？|。]",
        "[发货|配送|送货|快递|物流][要|需要|一般要|大概][几天|多久|多长时间][？]",
        "[送到|寄到|发到|到][{city}][最快|最慢|一般|大概][要|需要|][几天|多久|多长时间][？]",
        "[下单|付款|买了][以后|之后|后][多久|几天][能|可以|就能][送到|到|收到][{city}|][？]",
        "[今天|现在|明天][下单|买|付款][的话|][什么时候|多久|几天][能到|到|送到|能送到|发货][{city}|][？]",
        "[{city}|到{city}][可以|能|有][加急|次日达|当日达|快速][配送|送货|发货][吗|][？]",
        "[你们|][发货|配送|送货][快吗|速度怎么样|要等多久][？]",
        "[普通|加急|标准][配送|快递][要|需要][几天|多久][？]",
    ],
    ("shipping", "cost", "en"): [
        "[how much|what] [is|does] [shipping|delivery|postage][ cost|][ to {city}|][?]",
        "[is|will] [shipping|delivery] [free|charged|extra][ to {city}|][?]",
        "[what are|tell me] [your|the] [shipping|delivery|postage] [fees|costs|charges|prices][ to {city}|][?|.]",
        "[do you|do I have to|will you] [charge for|pay for] [shipping|delivery|postage][ to {city}|][?]",
        "[is there|do you have|do you offer] free [shipping|delivery][ over a certain amount| for big orders|][?]",
        "how much [extra |][for|is] [express|fast|standard] [shipping|delivery][ to {city}|][?]",
    ],
    ("shipping", "cost", "zh"): [
        "[寄到|送到|发到|到][{city}|我这里][的|][运费|快递费|邮费|配送费][多少|是多少|怎么算|多少钱][？]",
        "[运费|快递费|邮费|配送费][多少|怎么算|贵不贵|是多少|要多少钱][？]",
        "[你们|][包邮|免运费|免邮][吗|][？]",
        "[满多少|买多少][包邮|免运费][？]",
        "[{city}|到{city}][要|需要][收|付][运费|邮费|快递费][吗|][？]",
        "[加急|普通|标准][配送|快递][运费|费用|收费][多少|怎么算][？]",
    ],
    ("opening_hours", "-", "en"): [
        "[what are|tell me] your [opening|business|store|office|support] hours[?|.| please.]",
        "[when|what time] [are you|is the store|is the shop|is support|is customer service] "
        "[open|closed|available][ today| tomorrow| on Sunday| on Saturday| on weekends| on holidays|][?]",
        "[are you|is the store|is the shop|is your {city} store] open [today|now|on Sunday|on weekends|"
        "on public holidays|tomorrow|late][?]",
        "[what time|when] do you [open|close|start|finish][ today| tomorrow| on Saturday|][?]",
        "[when|what time] does [the {city} store|the shop in {city}|your store|customer support|the hotline] "
        "[open|close][?]",
        "[can I|how late can I] [call|contact|visit|reach] [you|support|the store][ on Sunday| at night| now|][?]",
    ],
    ("opening_hours", "-", "zh"): [
        "[你们|门店|商店|店里|客服][几点|什么时候][开门|关门|营业|上班|下班][？]",
        "[营业|开门|上班|服务][时间][是|][几点到几点|什么时候|怎么安排|][？]",
        "[今天|明天|周日|周六|周末|节假日|现在][开门|营业|上班][吗|不][？]",
        "[{city}|{city}的][门店|店|商店][几点|什么时候][开门|关门|营业][？]",
        "[客服|门店|你们|商店|热线][的|][工作时间|营业时间|上班时间|服务时间|开放时间][是|][什么时候|几点|怎么安排|多久|][？|。]",
        "[晚上|周末|节假日][能|可以][联系|找到|打电话给][客服|你们][吗|][？]",
    ],
    ("password_reset", "-", "en"): [
        "I [forgot|can't remember|lost|don't know] my [password|login password|account password|login details]"
        "[.|!|, help.|, what now?]",
        "[how do I|how can I|can you|please|help me] [reset|change|recover|get back|update] my "
        "[password|login|account password|account][?|.]",
        "I [can't|cannot|am unable to] [log in|sign in|access my account|get into my account|log into the app]"
        "[.|!|, help.| anymore.]",
        "[my password|the login|signing in|my account] [doesn't work|isn't working|keeps failing|is locked|"
        "is blocked|won't accept my password][.|!]",
        "[I'm|I am|I got] locked out[ of my account|][.|!]",
        "[password reset|reset my password|new password|forgotten password][ please.|, how?|?|.|]",
    ],
    ("password_reset", "-", "zh"): [
        "[我|][忘了|忘记了|想不起|不记得][我的|][密码|登录密码|账户密码|账号密码][了|][。|！|，怎么办？]",
        "[怎么|如何|请帮我|帮我|我想][重置|修改|找回|更改|重新设置][密码|登录密码|账号][？|。]",
        "[我|][登录不了|登不上|进不去|无法登录|没法登录][账号|账户|我的账号|][了|][。|！]",
        "[密码|登录|账号][不对|错误|不能用|一直失败|被锁了|被冻结了][。|！|，怎么办？]",
        "[重置密码|找回密码|修改密码][，怎么弄|怎么操作|][？|。|]",
    ],
    ("change_address", "-", "en"): [
        "[I need to|I want to|can I|how do I|how can I|please|I'd like to] [change|update|edit|correct|fix] "
        "[my|the] [delivery|shipping|] address[ to {city}| on my order|][?|.]",
        "I [moved|have moved|am moving] to {city}[, please change my address.|, can you update the address?|"
        ", new address please.]",
        "[the|my] address [on my order |I gave |]is [wrong|incorrect|old|outdated][, can you fix it?|, please change it.|"
        ", how do I change it?|.]",
        "[please |can you |could you ][send|deliver|ship] [it|my order|the parcel] to [another|a different|my new|"
        "my work] address[ in {city}|][.|?]",
        "[can|could] [the|my] [delivery |shipping |]address [be changed|be updated|still change][?]",
        "[I want|I'd like|please let|can I have] [my order|the parcel|my package|the delivery] [to go|sent|delivered] "
        "to [my new place|my new flat|my new home|my office|my parents' house|my work address] in {city}[.|?]",
    ],
    ("change_address", "-", "zh"): [
        "[我要|我想|能不能|可以|怎么|请帮我|麻烦][修改|更改|改一下|更新|换][收货地址|送货地址|地址|配送地址]"
        "[到{city}|成{city}|][？|。]",
        "我[搬到|搬去|换到][{city}|新家|新地方]了，[请|麻烦|][改一下|更新|修改][收货|][地址][。|吧。]",
        "[地址|收货地址|送货地址][填错了|写错了|不对|是旧的][，|。][能改吗|怎么改|请帮我改|][？|。|]",
        "[请|麻烦|能不能][寄到|送到|改寄到][另一个|新的|公司的|{city}的][地址|地方][。|？]",
        "[我想|请|麻烦|能不能][把][包裹|订单|快递|东西][改|][寄到|送到|发到][{city}的|][新家|新地址|公司|父母家|新住处][。|？|吗？]",
    ],
    ("human_handoff", "-", "en"): [
        "[I want to|I need to|can I|let me|I'd like to|please let me] [speak|talk|chat] [to|with] "
        "[a human|a person|someone real|a real agent|an agent|a manager|your manager|staff|a representative]"
        "[.|!|?| please.]",
        "[connect me|transfer me|put me|send me] [to|with|through to] [a human|a person|an agent|a manager|support staff|"
        "a representative|a colleague|live support][.|!| please.]",
        "[can you|could you|please|I want you to|I need you to|help me|I'd like you to] "
        "[plan|organise|book|recommend|suggest|find|choose|pick|arrange|research|compare|review|summarise|explain] "
        "[a trip|my holiday|a vacation|a movie|a film|a restaurant|a book|a birthday party|a wedding|a diet|"
        "a workout|my schedule|a gift idea|a hotel|a car|a laptop|a tv series|a podcast|an investment|a doctor|"
        "a name for my dog|a weekend in {city}|flights to {city}][ for me| for tonight| for next week|][.|?|!]",
        "[what|which] [movie|book|restaurant|game|song|phone|holiday destination|city] [should I|do you] "
        "[watch|read|try|play|recommend|buy|visit|like][?]",
        "[I have|there is|we have] a [complicated|serious|special|urgent|legal|complex] [problem|issue|case|question]"
        "[ that needs a human| for a manager| you can't solve|][.|!]",
        "[can you|could you|please|will you] [write|compose|make up] [a poem|a story|a song|an essay|a joke]"
        "[ about {city}| about dogs| about the sea| for my friend|][?|.]",
        "[what's|what is|tell me] the [weather|news|time|score|exchange rate][ in {city}| today| tomorrow|][?]",
        "[can you|could you|please] [help me with|do|fix|explain] [my taxes|my homework|my car|my computer|"
        "a math problem|my visa|my phone contract|a legal issue][?|.]",
        "[I want to|I need to|I'd like to] [file|make|submit] a [complaint|formal complaint|legal complaint|claim]"
        "[ about your service| with a person|][.|!]",
        "[tell me|give me|do you know] [a joke|a recipe|the capital of {city}|a fun fact|the lottery numbers|"
        "a riddle][.|?]",
        "[who will win|who won|what do you think about] [the election|the match|the game|the race][?]",
        "[you are|this bot is|you're] [useless|not helpful|not understanding me][, I want a person.|. Human please.|"
        ", get me someone.]",
    ],
    ("human_handoff", "-", "zh"): [
        "[我要|我想|能不能|请|让我][找|跟|和][人工|真人|经理|客服人员|你们领导|主管][说话|聊|沟通|谈谈|][。|！|？]",
        "[转|转接|帮我转|请转|请帮我转|麻烦转|给我转][人工|人工客服|真人|经理|客服专员][。|！|吧。|]",
        "[帮我|给我|请|能不能|你能不能][规划|安排|推荐|介绍|找|订|选|比较|总结|解释][一下|][旅行|假期|一部电影|一家餐厅|"
        "一本书|生日派对|婚礼|减肥计划|健身计划|日程|礼物|酒店|一辆车|电脑|电视剧|理财产品|医生|去{city}的机票][吧|][。|？|！]",
        "[看|读|玩|买|去][什么|哪个|哪部|哪本][电影|书|游戏|手机|城市|地方][好|比较好|合适][？]",
        "[我有|有][一个|个][很复杂的|很严重的|特殊的|紧急的|法律][问题|情况|事情][，|][需要|要|得][主管|经理|人工|真人][处理|解决|来看][。|！]",
        "[给我|帮我|能不能][写|编|作][一首诗|一个故事|一首歌|一篇作文|一个笑话][吧|][。|？]",
        "[{city}|明天|今天][的|][天气|新闻|汇率|比分][怎么样|是什么][？]",
        "[你能|能不能|帮我][修电脑|写作业|报税|办签证|算数学题|处理法律问题][吗|][？|。]",
        "我要[投诉|起诉|维权][，|][找人处理|走法律程序|找你们领导][。|！]",
        "[你|这个机器人][太笨了|听不懂|没用][，|][我要人工|找个真人来|给我转人工][。|！]",
    ],
    ("greeting", "-", "en"): [
        "[hi|hello|hey there|hiya|good morning|good evening|morning|hello there|yo|greetings|good afternoon|"
        "hi everyone|hello again|howdy][!|.|]",
        "[my name is|I am|I'm|this is] {name}[.|!|, hello.|, hi.]",
        "[hi|hello|good morning|good evening|greetings|good afternoon][, |! ][I'm|this is|my name's|my name is|it's] "
        "{name}[.|!|]",
        "[hello|hi][, |! ][is anyone there|can someone help me|are you there|I have a question][?|.]",
    ],
    ("greeting", "-", "zh"): [
        "[你好|您好|嗨|早上好|晚上好|早|哈罗|在吗|有人吗][！|。|？|]",
        "[你好|您好|嗨|哈罗|下午好][，|！][我是|我叫|这里是|我的名字是]{name}[。|！|]",
        "[你好|您好|在吗][，|][有人吗|我有个问题|能帮我一下吗][？|。]",
    ],
    ("thanks", "-", "en"): [
        "[thanks|thank you|thanks a lot|thank you so much|many thanks|much appreciated|thx|cheers|ty|great, thanks|"
        "ok thanks|perfect, thank you|awesome, thank you|I appreciate it|appreciate the help][!|.|]",
        "[thanks|thank you|cheers][, |! ][that's all|that helped|that was helpful|have a nice day|bye|see you|"
        "you've been great|problem solved][.|!|]",
        "[great|perfect|ok|okay|got it|understood|good][, |. ][thanks|thank you|cheers][ for the help| for your help|]"
        "[.|!|]",
    ],
    ("thanks", "-", "zh"): [
        "[谢谢|多谢|感谢|谢啦|非常感谢|太感谢了|谢谢你|辛苦了][！|。|]",
        "[好的|明白了|知道了|好|行|收到][，|。][谢谢|多谢|感谢|谢谢你][！|。|]",
        "[谢谢|多谢|感谢][你的帮助|帮忙|耐心解答|][，|。][再见|拜拜|就这样吧|没事了|][！|。|]",
    ],
}


# Extra slot values for grammar-written turns, so names, cities and products the model has never seen are the
# rule rather than the exception. `realise` drops any value of the test pools.
VALUES = {
    ("name", "en"): ["Alice", "Ben", "Carla", "Diego", "Eva", "Frank", "Gina", "Hugo", "Ivy", "Jonas", "Kate", "Liam",
                     "Maya", "Noah", "Olga", "Pablo", "Quinn", "Ruth", "Sam", "Tara", "Uma", "Vera", "Will", "Xavier",
                     "Yara", "Zoe", "Amir", "Bella", "Carlos", "Dana", "Elena", "Fiona", "Gabriel", "Helen", "Ian",
                     "Julia", "Kevin", "Laura", "Marco", "Nina", "Oscar", "Priya", "Raj", "Sara", "Theo", "Ursula",
                     "Wendy", "Yusuf", "Zara", "Mr Smith", "Ms Brown", "Mrs Lee", "Dr Patel"],
    ("city", "en"): ["Amsterdam", "Brussels", "Copenhagen", "Stockholm", "Athens", "Budapest", "Milan", "Naples",
                     "Porto", "Seville", "Valencia", "Hamburg", "Cologne", "Frankfurt", "Marseille", "Nice", "Geneva",
                     "Krakow", "Manchester", "Glasgow", "Edinburgh", "Cardiff", "Miami", "Dallas", "Houston",
                     "Phoenix", "Atlanta", "Portland", "Vancouver", "Montreal", "Calgary", "Melbourne", "Brisbane",
                     "Auckland", "Tokyo", "Osaka", "Seoul", "Singapore", "Dubai", "Cape Town", "New York",
                     "Los Angeles", "San Francisco", "Mexico City", "Buenos Aires"],
    ("product", "en"): ["laptop stand", "electric toothbrush", "baby stroller", "camping tent", "tennis racket",
                        "frying pan", "smart watch", "bluetooth speaker", "hair dryer", "coffee mug", "wall clock",
                        "sofa cushion", "kids bike", "garden hose", "printer ink", "mattress", "dining table",
                        "vacuum cleaner", "jeans", "silk dress", "leather belt", "sunglasses", "keyboard", "monitor",
                        "tablet", "blender", "microwave", "winter coat", "sneakers", "umbrella", "toy car",
                        "board game", "perfume", "lipstick", "notebook", "pen set", "bed sheets", "curtains"],
    ("name", "zh"): None,  # generated: surname + one or two given-name characters
    ("city", "zh"): ["哈尔滨", "沈阳", "长春", "济南", "合肥", "福州", "南昌", "南宁", "贵阳", "兰州", "太原",
                     "石家庄", "呼和浩特", "乌鲁木齐", "拉萨", "银川", "西宁", "海口", "三亚", "宁波", "无锡", "温州",
                     "佛山", "东莞", "珠海", "烟台", "洛阳", "桂林", "扬州", "绍兴", "香港", "澳门", "台北", "常州",
                     "徐州", "泉州", "惠州", "中山", "南通", "嘉兴"],
    ("product", "zh"): ["笔记本电脑", "电动牙刷", "婴儿车", "帐篷", "网球拍", "平底锅", "智能手表", "蓝牙音箱",
                        "吹风机", "马克杯", "挂钟", "沙发垫", "儿童自行车", "打印机墨盒", "床垫", "餐桌", "吸尘器",
                        "牛仔裤", "连衣裙", "皮带", "太阳镜", "键盘", "显示器", "平板电脑", "榨汁机", "微波炉",
                        "羽绒服", "运动鞋", "雨伞", "玩具车", "桌游", "香水", "口红", "笔记本", "床单", "窗帘", "充电器"],
}
_SURNAMES = "王李张刘陈杨赵黄周吴徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
_GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉萍红鹏辉建国文斌宇浩凯晨欣怡婷雪琳晶鑫波宁佳颖莉琪瑶慧倩梅兰峰亮新海春晓燕飞鸣博航轩然睿哲宏林丹妍悦"


def extra_slots(rng, lang, test_values):
    """Fresh name/city/product for one grammar-written turn, never one of the test pools' values."""
    out = {}
    for slot in ("name", "city", "product"):
        while True:
            if (slot, lang) == ("name", "zh"):
                v = rng.choice(_SURNAMES) + "".join(rng.choice(_GIVEN) for _ in range(rng.choice((1, 2))))
            else:
                v = rng.choice(VALUES[(slot, lang)])
            if v not in test_values[slot]:
                out[slot] = v
                break
    return out


def _parse(s, i=0):
    """Parse `s` from position i into a node: ("seq", [items]) where an item is str or ("alt", [nodes])."""
    items, buf = [], []
    while i < len(s):
        c = s[i]
        if c == "[":
            if buf:
                items.append("".join(buf))
                buf = []
            alts = []
            i += 1
            while True:
                node, i = _parse(s, i)
                alts.append(node)
                if s[i] == "|":
                    i += 1
                    continue
                assert s[i] == "]", s
                i += 1
                break
            items.append(("alt", alts))
        elif c in "|]":
            break
        else:
            buf.append(c)
            i += 1
    if buf:
        items.append("".join(buf))
    return ("seq", items), i


def _expand(node, rng):
    out = []
    for it in node[1]:
        if isinstance(it, str):
            out.append(it)
        else:
            out.append(_expand(rng.choice(it[1]), rng))
    return "".join(out)


_PARSED = {k: [_parse(p)[0] for p in v] for k, v in _G.items()}


@functools.lru_cache(maxsize=None)
def template_regex(template):
    """A test template as a regex in which every slot matches any text (compiled once per template)."""
    parts = re.split(r"\{(?:order|product|city|name)\}", template)
    return re.compile(".+".join(re.escape(p) for p in parts), re.IGNORECASE)


def realise(rng, key, slots, test_templates):
    """One sentence for (intent, sub, lang) `key`, never one that a test template produces."""
    forbidden = [template_regex(t) for t in test_templates]
    while True:
        text = _expand(rng.choice(_PARSED[key]), rng).format(**slots)
        text = re.sub(r"\s+", " ", text).strip()
        if key[2] == "en":
            text = text[0].upper() + text[1:]
        if not any(r.fullmatch(text) for r in forbidden):
            return text
