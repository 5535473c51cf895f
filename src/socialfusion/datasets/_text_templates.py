"""Phrase banks of the synthetic social network: topic sentences, fillers, openers and bios in two languages.

Every sentence is something a person might post. Topic-specific sentences carry both the topic and the
sentiment; the generic templates carry the sentiment and take a topic ``{thing}``; fillers and asides carry
neither (or another topic's word), so that a bag-of-words model can learn topic and sentiment, not perfectly.

Keys: ``lang`` is ``"en"`` or ``"zh"``; ``sentiment`` is ``"negative"``, ``"neutral"`` or ``"positive"``.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "ASIDES",
    "EMOJI",
    "FILLERS",
    "GENERIC_TEMPLATES",
    "GIVEN_NAME_CHARS_ZH",
    "HANDLE_WORDS",
    "PROFILE_TEMPLATES",
    "REPLY_OPENERS",
    "SURNAMES_ZH",
    "TOPICS",
    "TopicPhrases",
]


@dataclass(frozen=True)
class TopicPhrases:
    """What people write about one topic.

    Attributes:
        name: the topic's English name (also its label), e.g. ``"technology"``.
        names: the topic's name per language, as profiles use it.
        mood: the topic's sentiment lean (added to the author's tendency; > 0 leans positive).
        hashtags: per language, the topic's hashtags without ``#``.
        things: per language, noun phrases the generic templates take as ``{thing}``.
        sentences: per language and sentiment, whole sentences about the topic.
    """

    name: str
    names: dict[str, str]
    mood: float
    hashtags: dict[str, tuple[str, ...]]
    things: dict[str, tuple[str, ...]]
    sentences: dict[str, dict[str, tuple[str, ...]]]


def _sentences(
    positive_en: tuple[str, ...], neutral_en: tuple[str, ...], negative_en: tuple[str, ...],
    positive_zh: tuple[str, ...], neutral_zh: tuple[str, ...], negative_zh: tuple[str, ...],
) -> dict[str, dict[str, tuple[str, ...]]]:
    return {
        "en": {"positive": positive_en, "neutral": neutral_en, "negative": negative_en},
        "zh": {"positive": positive_zh, "neutral": neutral_zh, "negative": negative_zh},
    }


TOPICS: tuple[TopicPhrases, ...] = (
    TopicPhrases(
        name="technology",
        names={"en": "technology", "zh": "科技"},
        mood=0.1,
        hashtags={"en": ("tech", "AI", "gadgets", "coding"), "zh": ("科技", "人工智能", "数码")},
        things={
            "en": ("the new phone update", "this laptop", "the AI assistant", "the latest chip release",
                   "my smartwatch", "the new operating system", "this coding framework",
                   "the wireless earbuds"),
            "zh": ("新手机系统更新", "这台笔记本", "人工智能助手", "最新的芯片", "我的智能手表", "这个编程框架"),
        },
        sentences=_sentences(
            ("The battery life on this phone is incredible.",
             "Finally shipped my app and the code runs beautifully.",
             "This AI tool just saved me hours of work.",
             "Upgraded my laptop and everything is lightning fast."),
            ("Installing the software update tonight.",
             "Comparing two laptops before buying one.",
             "The developer conference keynote starts at nine.",
             "Reading the release notes for the new framework."),
            ("My phone keeps crashing after the update.",
             "The app deleted my files again, terrible.",
             "This laptop overheats constantly, total waste of money.",
             "The AI chatbot gave me nonsense answers all day."),
            ("这款手机的续航太棒了！", "新电脑速度飞快，非常满意。", "这个人工智能工具帮我省了好几个小时。"),
            ("今晚准备安装系统更新。", "在比较两款笔记本，还没决定。", "发布会明天上午九点开始。"),
            ("更新之后手机一直闪退，太糟糕了。", "这台电脑老是发热，真后悔买了。", "软件又把我的文件弄丢了，气死了。"),
        ),
    ),
    TopicPhrases(
        name="sports",
        names={"en": "sports", "zh": "体育"},
        mood=0.0,
        hashtags={"en": ("sports", "football", "matchday", "NBA"), "zh": ("体育", "足球", "篮球")},
        things={
            "en": ("the match last night", "our team's new coach", "the championship final", "the marathon",
                   "the transfer news", "the tennis open", "the league table", "the penalty shootout"),
            "zh": ("昨晚的比赛", "球队的新教练", "总决赛", "马拉松", "转会消息", "网球公开赛"),
        },
        sentences=_sentences(
            ("What a goal in the final minute, unbelievable win!",
             "Our team played brilliantly tonight.",
             "Finished my first marathon and I feel amazing.",
             "That comeback was the best game of the season."),
            ("Kickoff is at eight tonight.",
             "Checking the league standings before the weekend.",
             "The squad list for Saturday was just announced.",
             "Watching the highlights from yesterday's game."),
            ("Terrible refereeing ruined the match.",
             "We lost again, the defence was a mess.",
             "Another injury for our captain, awful news.",
             "Worst performance of the season, so frustrating."),
            ("最后一分钟绝杀，太精彩了！", "今晚主队踢得太好了。", "终于跑完了第一个马拉松，超开心！"),
            ("比赛今晚八点开始。", "周末之前看看积分榜。", "正在看昨天比赛的集锦。"),
            ("裁判太离谱了，毁了整场比赛。", "又输了，防守一塌糊涂。", "队长又受伤了，真是坏消息。"),
        ),
    ),
    TopicPhrases(
        name="food",
        names={"en": "food", "zh": "美食"},
        mood=0.35,
        hashtags={"en": ("foodie", "recipe", "yum", "cooking"), "zh": ("美食", "吃货", "做饭")},
        things={
            "en": ("the new ramen place", "this pasta recipe", "the farmers market", "my sourdough bread",
                   "the street food festival", "this coffee shop", "the spicy hotpot", "grandma's dumplings"),
            "zh": ("新开的拉面店", "这个意面做法", "街边小吃节", "这家咖啡馆", "麻辣火锅", "奶奶包的饺子"),
        },
        sentences=_sentences(
            ("This homemade pasta turned out delicious.",
             "Best dumplings I've had in years, so tasty!",
             "The new bakery downtown is wonderful.",
             "Perfect coffee and fresh croissants this morning."),
            ("Trying a new soup recipe for dinner.",
             "Going grocery shopping after work.",
             "The restaurant opens at noon on Sundays.",
             "Meal prepping for the week ahead."),
            ("The soup was cold and way too salty.",
             "Waited an hour and the burger was awful.",
             "Food poisoning after that takeaway, never again.",
             "Overpriced and bland, really disappointing meal."),
            ("自己做的意面太好吃了！", "这家饺子是我吃过最好吃的。", "早上的咖啡和面包完美。"),
            ("今晚试一个新的汤谱。", "下班后去超市买菜。", "这家餐厅周日中午开门。"),
            ("汤是凉的，还特别咸。", "等了一个小时，汉堡难吃死了。", "外卖吃坏肚子了，再也不点了。"),
        ),
    ),
    TopicPhrases(
        name="travel",
        names={"en": "travel", "zh": "旅行"},
        mood=0.25,
        hashtags={"en": ("travel", "wanderlust", "vacation", "roadtrip"), "zh": ("旅行", "旅游", "度假")},
        things={
            "en": ("the trip to Kyoto", "this beach resort", "the night train", "the mountain hike",
                   "the airport lounge", "our road trip", "the old town", "the island ferry"),
            "zh": ("京都之旅", "这家海边度假村", "夜行火车", "这次爬山", "机场休息室", "这次自驾游"),
        },
        sentences=_sentences(
            ("The sunset over the beach was breathtaking.",
             "Best trip ever, the locals were so friendly.",
             "Hiked to the summit and the view was stunning.",
             "Our hotel upgrade was a lovely surprise."),
            ("Packing for a short trip next week.",
             "The flight leaves at six in the morning.",
             "Looking at train routes across the country.",
             "Checking the weather forecast for the mountains."),
            ("Flight cancelled and no one at the desk, nightmare.",
             "Lost luggage again, worst airline ever.",
             "The hotel room was dirty and noisy.",
             "Stuck in traffic for hours, ruined the holiday."),
            ("海边的日落美得让人窒息。", "这次旅行太棒了，当地人特别热情。", "爬到山顶，风景绝了！"),
            ("下周出差，正在收拾行李。", "航班早上六点起飞。", "在查去山区的天气预报。"),
            ("航班取消了还没人管，太崩溃了。", "行李又丢了，最差的航空公司。", "酒店房间又脏又吵。"),
        ),
    ),
    TopicPhrases(
        name="music",
        names={"en": "music", "zh": "音乐"},
        mood=0.3,
        hashtags={"en": ("music", "nowplaying", "concert", "livemusic"), "zh": ("音乐", "演唱会", "新歌")},
        things={
            "en": ("the new album", "last night's concert", "this playlist", "the jazz festival",
                   "my guitar lessons", "the band's world tour", "this indie singer", "the piano recital"),
            "zh": ("新专辑", "昨晚的演唱会", "这个歌单", "爵士音乐节", "我的吉他课", "这位独立歌手"),
        },
        sentences=_sentences(
            ("This album is a masterpiece, on repeat all day.",
             "The concert last night was pure magic.",
             "Finally nailed that guitar solo, so proud!",
             "Her voice live is even better than the record."),
            ("Tickets for the tour go on sale Friday.",
             "Making a playlist for the weekend drive.",
             "Practising scales on the piano tonight.",
             "The band announced a new single today."),
            ("The sound at the concert was awful.",
             "Their new album is boring and repetitive.",
             "Tickets sold out in seconds, so annoying.",
             "They cancelled the tour, I'm really upset."),
            ("这张专辑太好听了，单曲循环一整天。", "昨晚的演唱会简直太震撼了！", "现场比录音还好听。"),
            ("巡演门票周五开售。", "正在做周末开车听的歌单。", "乐队今天发布了新单曲。"),
            ("演唱会音响效果太差了。", "新专辑又无聊又重复。", "巡演取消了，好难过。"),
        ),
    ),
    TopicPhrases(
        name="climate",
        names={"en": "climate", "zh": "环保"},
        mood=-0.45,
        hashtags={"en": ("climate", "sustainability", "green", "environment"), "zh": ("环保", "气候变化", "低碳")},
        things={
            "en": ("the heatwave", "the new solar farm", "the recycling program", "the flood warnings",
                   "the climate summit", "the electric buses", "the tree planting drive", "the air quality"),
            "zh": ("高温天气", "新建的太阳能电站", "垃圾分类", "洪水预警", "气候峰会", "电动公交"),
        },
        sentences=_sentences(
            ("Our town just opened a huge solar farm, great news!",
             "Planted two hundred trees with volunteers today, so uplifting.",
             "The river is clean again after the cleanup, wonderful.",
             "Love seeing more electric buses on the streets."),
            ("The climate summit starts on Monday.",
             "Sorting the recycling before collection day.",
             "Reading a report on sea level data.",
             "The city council discusses the bike lanes tonight."),
            ("Another record heatwave, this is scary.",
             "The flood destroyed our neighbours' homes, heartbreaking.",
             "The smog is terrible today, can't breathe.",
             "Plastic everywhere on the beach, disgusting."),
            ("我们市新建了大型太阳能电站，好消息！", "今天和志愿者种了两百棵树，很有意义。", "河水治理后又变清了，太好了。"),
            ("气候峰会周一开幕。", "收垃圾前先做好分类。", "在看一份关于海平面的报告。"),
            ("又是创纪录的高温，太可怕了。", "洪水冲毁了邻居的房子，让人心痛。", "今天雾霾严重，喘不过气。"),
        ),
    ),
    TopicPhrases(
        name="movies",
        names={"en": "movies", "zh": "电影"},
        mood=0.1,
        hashtags={"en": ("movies", "film", "cinema", "bingewatch"), "zh": ("电影", "追剧", "影评")},
        things={
            "en": ("the new superhero movie", "this documentary", "the film festival", "the series finale",
                   "the director's new film", "the animated sequel", "the cinema downtown",
                   "the award nominations"),
            "zh": ("新上映的超级英雄电影", "这部纪录片", "电影节", "剧集大结局", "导演的新片", "动画续集"),
        },
        sentences=_sentences(
            ("That documentary was moving and beautifully shot.",
             "Best film I've seen this year, the ending was perfect.",
             "The cast in this series is fantastic.",
             "Laughed the whole way through the animated sequel."),
            ("Going to the cinema on Thursday.",
             "The trailer for the sequel comes out tomorrow.",
             "Adding a few classics to my watch list.",
             "The film festival programme was published today."),
            ("Two hours of my life wasted on that movie.",
             "The series finale was a huge disappointment.",
             "Terrible plot and wooden acting, avoid it.",
             "The cinema was freezing and the sound kept cutting out."),
            ("这部纪录片太感人了，画面也很美。", "今年看过最好的电影，结局完美。", "这部剧的演员阵容太棒了。"),
            ("周四去电影院。", "续集的预告片明天发布。", "把几部经典片加进了片单。"),
            ("浪费了两个小时看这部烂片。", "大结局太让人失望了。", "剧情烂，演技尴尬，别看了。"),
        ),
    ),
    TopicPhrases(
        name="gaming",
        names={"en": "gaming", "zh": "游戏"},
        mood=0.05,
        hashtags={"en": ("gaming", "gamer", "esports", "indiegame"), "zh": ("游戏", "电竞", "手游")},
        things={
            "en": ("the new RPG", "this indie game", "the console update", "the esports final",
                   "the open world map", "my gaming rig", "the co-op mode", "the speedrun record"),
            "zh": ("新出的角色扮演游戏", "这款独立游戏", "主机更新", "电竞总决赛", "开放世界地图", "合作模式"),
        },
        sentences=_sentences(
            ("Finally beat the final boss, what a game!",
             "This indie game is charming and so much fun.",
             "Our team won the tournament, incredible night.",
             "The new open world is gorgeous to explore."),
            ("Downloading the patch before tonight's session.",
             "The esports final is streaming on Saturday.",
             "Looking for two more players for the raid.",
             "The developers posted the update schedule."),
            ("The servers crashed again, can't even log in.",
             "So many bugs in this release, unplayable.",
             "Lost all my save data after the patch, furious.",
             "Pay to win nonsense ruined the game."),
            ("终于打败最终boss了，太爽了！", "这款独立游戏又可爱又好玩。", "我们队赢了比赛，今晚太棒了。"),
            ("今晚开黑前先下载补丁。", "电竞总决赛周六直播。", "副本还缺两个人。"),
            ("服务器又崩了，根本登不上。", "这个版本漏洞太多，没法玩。", "更新后存档全没了，气死我了。"),
        ),
    ),
    TopicPhrases(
        name="fitness",
        names={"en": "fitness", "zh": "健身"},
        mood=0.2,
        hashtags={"en": ("fitness", "workout", "yoga", "health"), "zh": ("健身", "运动", "瑜伽")},
        things={
            "en": ("my morning run", "the new gym", "this yoga class", "leg day", "the cycling route",
                   "my protein shake", "the swim session", "the step challenge"),
            "zh": ("早上的跑步", "新开的健身房", "这节瑜伽课", "练腿日", "这条骑行路线", "游泳训练"),
        },
        sentences=_sentences(
            ("New personal best on my morning run, feeling strong!",
             "That yoga class left me calm and energised.",
             "Three months of training and I can finally do ten pull-ups.",
             "Great ride along the river this morning."),
            ("Leg day tomorrow, then a rest day.",
             "Signed up for the spring half marathon.",
             "Tracking my steps for the monthly challenge.",
             "The gym changes its opening hours next week."),
            ("Pulled a muscle and can't train for weeks, so annoying.",
             "The gym was packed and half the machines were broken.",
             "Skipped my workout again, feeling awful.",
             "My knee hurts after every run, really frustrating."),
            ("晨跑又破了个人纪录，状态超好！", "上完瑜伽课整个人都放松了。", "练了三个月终于能做十个引体向上。"),
            ("明天练腿，后天休息。", "报名了春季半程马拉松。", "在记录这个月的步数挑战。"),
            ("拉伤了，好几周不能练，好烦。", "健身房人太多，一半器械还是坏的。", "又没去锻炼，感觉很糟。"),
        ),
    ),
    TopicPhrases(
        name="finance",
        names={"en": "finance", "zh": "理财"},
        mood=-0.2,
        hashtags={"en": ("finance", "investing", "stocks", "money"), "zh": ("理财", "股市", "投资")},
        things={
            "en": ("the stock market", "my savings plan", "the interest rate decision", "crypto prices",
                   "the housing market", "my budget spreadsheet", "the quarterly earnings", "index funds"),
            "zh": ("股市", "我的储蓄计划", "利率决议", "加密货币价格", "房地产市场", "季度财报"),
        },
        sentences=_sentences(
            ("My portfolio finally recovered, great month!",
             "Paid off my student loan today, what a relief.",
             "Strong earnings report, the shares jumped nicely.",
             "Sticking to my budget is really paying off."),
            ("The central bank announces its rate decision on Wednesday.",
             "Rebalancing my portfolio this weekend.",
             "Reading the quarterly earnings reports.",
             "Comparing savings accounts at three banks."),
            ("The market crashed and wiped out my gains.",
             "Rent went up again, I can barely save anything.",
             "Lost money on crypto, such a bad decision.",
             "Hidden fees everywhere at this bank, outrageous."),
            ("投资组合终于回本了，这个月太好了！", "今天还清了助学贷款，一身轻松。", "财报很亮眼，股价大涨。"),
            ("央行周三公布利率决议。", "这个周末调整一下投资组合。", "在比较三家银行的储蓄利率。"),
            ("股市暴跌，收益全没了。", "房租又涨了，根本存不下钱。", "炒币亏了，真是个糟糕的决定。"),
        ),
    ),
)
"""The topic phrase banks; a network with ``n_topics`` topics uses the first ``n_topics``."""

GENERIC_TEMPLATES: dict[str, dict[str, tuple[str, ...]]] = {
    "en": {
        "positive": ("Absolutely loving {thing} right now!", "{thing} made my day.",
                     "Honestly {thing} is so good.", "Can't stop talking about {thing}, it's brilliant.",
                     "Big fan of {thing}, highly recommend.", "{thing} exceeded all my expectations!",
                     "So happy with {thing} this week."),
        "neutral": ("Anyone else following {thing}?", "Reading up on {thing} today.",
                    "Some notes on {thing}.",
                    "Not sure yet what to make of {thing}.", "{thing} is on the agenda this afternoon.",
                    "Here's a quick update about {thing}.", "Comparing a few opinions on {thing}."),
        "negative": ("Really disappointed with {thing}.", "{thing} was a total letdown.",
                     "Not impressed by {thing} at all.", "Why is {thing} so bad lately?",
                     "Fed up with {thing}, honestly.", "{thing} ruined my day.",
                     "Can't believe how awful {thing} was."),
    },
    "zh": {
        "positive": ("{thing}真的太棒了！", "特别喜欢{thing}。", "{thing}超出预期，强烈推荐！", "今天因为{thing}心情很好。"),
        "neutral": ("有人在关注{thing}吗？", "今天在了解{thing}。", "关于{thing}的一些记录。", "还不确定怎么看{thing}。"),
        "negative": ("{thing}太让人失望了。", "{thing}真的很糟糕。", "对{thing}一点都不满意。", "{thing}把我的一天都毁了。"),
    },
}
"""Sentences that carry a sentiment and take one of a topic's ``things``."""

FILLERS: dict[str, tuple[str, ...]] = {
    "en": ("Anyway.", "Just saying.", "Thoughts?", "More later.", "Long day.", "Happy Monday everyone.", "ok",
           "lol", "ngl", "Not sure why I'm posting this at midnight.", "Back to work now.", "Coffee first."),
    "zh": ("就这样吧。", "大家怎么看？", "晚点再说。", "今天好累。", "哈哈", "先去忙了。", "周一快乐。"),
}
"""Sentences with no topic and (mostly) no sentiment."""

ASIDES: dict[str, tuple[str, ...]] = {
    "en": ("Unrelated, but {thing} is on my list too.", "Also thinking about {thing}."),
    "zh": ("题外话，{thing}也在我的清单上。", "顺便说一下{thing}。"),
}
"""Asides that mention another topic's ``thing`` (noise for topic models)."""

REPLY_OPENERS: dict[str, dict[str, tuple[str, ...]]] = {
    "en": {
        "positive": ("Totally agree!", "So true.", "Love this!", "Couldn't agree more."),
        "neutral": ("Interesting.", "Hmm, fair point.", "Good to know.", "Noted."),
        "negative": ("Not convinced.", "Hard disagree.", "That's just wrong.", "Ugh, no."),
    },
    "zh": {
        "positive": ("太同意了！", "说得对。", "喜欢！"),
        "neutral": ("有意思。", "了解了。", "嗯，有道理。"),
        "negative": ("不太认同。", "我不这么看。", "这不对吧。"),
    },
}
"""How replies start, per sentiment."""

EMOJI: dict[str, tuple[str, ...]] = {
    "positive": ("😍", "🎉", "👍", "😊", "🙌", "❤️"),
    "neutral": ("🤔", "👀", "📌", "🙂"),
    "negative": ("😡", "😞", "👎", "😤", "💔"),
}

PROFILE_TEMPLATES: dict[str, tuple[str, ...]] = {
    "en": ("{a} and {b} enthusiast.", "Mostly posting about {a}, sometimes {b}.",
           "Into {a}. Curious about {b}. Views my own.", "Here for {a} and {b}."),
    "zh": ("热爱{a}和{b}。", "主要聊{a}，偶尔聊{b}。", "{a}爱好者，也关注{b}。"),
}
"""User bios from the user's two favourite topics ``{a}`` and ``{b}`` (topic names in the user's language)."""

HANDLE_WORDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "en": (("sunny", "quiet", "brave", "lucky", "urban", "cosmic", "rainy", "happy", "little", "wild",
            "midnight", "golden", "silver", "salty", "nerdy", "chill"),
           ("otter", "fox", "maple", "river", "pixel", "panda", "comet", "falcon", "cactus", "mango", "tiger",
            "waffle", "harbor", "echo", "lantern", "badger")),
    "zh": (("xiao", "da", "lao", "a", "mi", "yun", "feng", "xue", "yue", "hua"),
           ("ming", "wei", "jing", "lan", "tao", "long", "mao", "yu", "chen", "bao")),
}
"""Two word lists per language; a handle joins one of each with the user's number."""

SURNAMES_ZH = ("王", "李", "张", "刘", "陈", "杨", "黄", "赵", "周", "吴")
GIVEN_NAME_CHARS_ZH = ("伟", "芳", "娜", "敏", "静", "磊", "洋", "勇", "艳", "杰", "涛", "明", "霞", "平", "刚", "婷")
