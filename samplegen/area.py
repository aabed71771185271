"""The area a sample is generated for: its administrative names and the name lists its
streets, communities, compounds and roads are drawn from.

The default area is the bundled sample's (内蒙古自治区鄂尔多斯市东胜区, the constants of
``common.py`` and ``world.py``: its output must never change). ``--styles all`` draws an
independent area from the wider lists below, by seed, so that a check on it exercises
names the project was not written against.
"""
from __future__ import annotations

import random
from dataclasses import dataclass

from .common import CITY, DISTRICT, DISTRICT_CODE, PROVINCE


@dataclass(frozen=True)
class Area:
    province: str
    city: str
    district: str
    district_code: str
    phone_area: str
    streets: tuple
    communities: tuple
    roads: tuple
    compound_words: tuple = ()
    compound_suffixes: tuple = ()
    local_regions: tuple = ("150602", "152701", "150621", "150627")  # ID regions of locals, by weight 50/30/10/10
    independent: bool = False       # True: drawn for --styles all (doorplates, parts, every address style)

    @property
    def prefix(self) -> str:
        return self.province + self.city + self.district


def default_area() -> Area:
    from .world import COMMUNITIES, ROADS, STREETS
    return Area(PROVINCE, CITY, DISTRICT, DISTRICT_CODE, "0477", STREETS, COMMUNITIES, ROADS)


# (province, city, district, district code, phone area code)
DISTRICTS = (
    ("浙江省", "湖州市", "吴兴区", "330502", "0572"),
    ("江苏省", "常州市", "武进区", "320412", "0519"),
    ("山东省", "潍坊市", "奎文区", "370705", "0536"),
    ("湖南省", "株洲市", "芦淞区", "430203", "0731"),
    ("四川省", "绵阳市", "涪城区", "510703", "0816"),
    ("河北省", "保定市", "竞秀区", "130602", "0312"),
    ("福建省", "泉州市", "丰泽区", "350503", "0595"),
    ("安徽省", "芜湖市", "镜湖区", "340202", "0553"),
    ("江西省", "九江市", "浔阳区", "360403", "0792"),
    ("广西壮族自治区", "柳州市", "城中区", "450202", "0772"),
)
STREET_WORDS = ("康宁", "兰溪", "福安", "月河", "湖滨", "城东", "新桥", "凤凰", "朝阳", "爱山", "飞英", "龙泉",
                "东林", "织里", "南太湖", "仁皇山", "杨家埠", "康山", "环渚", "道场")
COMMUNITY_WORDS = ("康城", "兰溪", "福安", "文华", "青枫", "金桥", "凤鸣", "月湖", "桂花", "秀水", "长岭", "白鹭",
                   "梧桐", "碧湖", "荷塘", "翠竹", "清河", "锦华", "安澜", "星洲", "馨苑", "春晖", "丰乐", "育英",
                   "北门", "南街", "江滨", "望湖", "柳岸", "芙蓉", "紫金", "新塘", "黄龙", "仓前", "浦口", "龙湾")
ROAD_WORDS = ("康宁路", "文化路", "人民路", "解放路", "中山路", "青年路", "新华路", "胜利路", "朝阳路", "光明路",
              "长安路", "望江路", "滨湖路", "凤凰路", "金桥路", "兴业路", "南湖路", "北园路", "东风路", "红旗路",
              "学院路", "体育路", "环城东路", "环城西路", "湖滨大道", "钟楼街", "府前街", "劳动路", "工农路",
              "五一路", "红星路", "健康路", "新民街", "建国南路", "吉祥路", "复兴路", "团结南路", "龙溪大道")
COMPOUND_WORDS = ("康城", "御景", "文华", "兰亭", "锦江", "翡翠", "香樟", "金色", "绿洲", "枫林", "海棠", "紫薇",
                  "银杏", "星河", "君悦", "名都", "新港", "春江", "碧水", "东湖", "西溪", "南山", "北辰", "天悦",
                  "盛景", "和园", "馨园", "云栖", "清风", "明珠", "丽水", "龙湾", "富春", "嘉禾", "望江", "观澜",
                  "临湖", "书香", "江南", "水岸", "月亮湾", "阳光城", "怡和", "景瑞", "融创", "万科", "绿地",
                  "中梁", "世茂", "金地", "桃源", "玉兰", "长乐", "安居", "幸福里", "百合", "凯旋", "锦绣")
COMPOUND_SUFFIXES = ("雅苑", "华府", "小区", "花园", "家园", "嘉园", "苑", "名邸", "公馆", "新村", "府", "庭",
                     "佳苑", "华庭", "公寓")


def independent_area(seed: int, n_streets: int, n_communities: int) -> Area:
    """An area with other names than the bundled sample's, drawn by seed."""
    rng = random.Random(f"{seed}:area")
    province, city, district, code, phone = rng.choice(DISTRICTS)
    streets = tuple(w + "街道" for w in _draw(rng, STREET_WORDS, n_streets))
    communities = tuple(w + "社区" for w in _draw(rng, COMMUNITY_WORDS, n_communities))
    roads = tuple(_draw(rng, ROAD_WORDS, len(ROAD_WORDS)))
    local = (code, code[:4] + "02", code[:4] + "21", code[:4] + "81")
    return Area(province, city, district, code, phone, streets, communities, roads,
                COMPOUND_WORDS, COMPOUND_SUFFIXES, local, True)


def _draw(rng: random.Random, words: tuple, n: int) -> list:
    """n distinct names: the words shuffled, then numbered repeats (新桥二) if more are needed."""
    pool = list(words)
    rng.shuffle(pool)
    out = pool[:n]
    k = 2
    while len(out) < n:
        from .common import cn_int
        out += [f"{w}{cn_int(k)}" for w in pool][: n - len(out)]
        k += 1
    return out
