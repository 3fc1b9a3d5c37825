"""The ten countries demo members come from: weights, names (romanised and local), cities, phones, banks."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from accounts.members.seeding.draws import draw_digits


@dataclass(frozen=True)
class Country:
    code: str
    weight: int
    # (romanised family, local family), (romanised given, local given); local "" when the
    # local-language name is the legal name.
    families: tuple[tuple[str, str], ...]
    givens: tuple[tuple[str, str], ...]
    family_first: bool
    cities: tuple[tuple[str, float, float], ...]
    phone: Callable[[random.Random], str]
    banks: tuple[str, ...]



COUNTRIES: dict[str, Country] = {
    c.code: c
    for c in (
        Country(
            "CN", 30,
            (("Wang", "王"), ("Li", "李"), ("Zhang", "张"), ("Liu", "刘"), ("Chen", "陈"), ("Yang", "杨"),
             ("Huang", "黄"), ("Zhao", "赵"), ("Wu", "吴"), ("Zhou", "周"), ("Xu", "徐"), ("Sun", "孙")),
            (("Wei", "伟"), ("Fang", "芳"), ("Na", "娜"), ("Min", "敏"), ("Jing", "静"), ("Qiang", "强"),
             ("Lei", "磊"), ("Jun", "军"), ("Yang", "洋"), ("Yan", "艳"), ("Jie", "杰"), ("Tao", "涛"),
             ("Ming", "明"), ("Xiuying", "秀英"), ("Hui", "慧"), ("Haoran", "浩然"), ("Zihan", "梓涵")),
            True,
            (("Beijing", 39.9042, 116.4074), ("Shanghai", 31.2304, 121.4737), ("Shenzhen", 22.5431, 114.0579),
             ("Hangzhou", 30.2741, 120.1551), ("Chengdu", 30.5728, 104.0668)),
            lambda r: f"+86 1{r.choice('3578')}{draw_digits(r, 1)} {draw_digits(r, 4)} {draw_digits(r, 4)}",
            ("Industrial and Commercial Bank of China", "China Construction Bank", "Bank of China",
             "China Merchants Bank"),
        ),
        Country(
            "HK", 10,
            (("Chan", "陳"), ("Wong", "黃"), ("Lee", "李"), ("Cheung", "張"), ("Lau", "劉"), ("Ng", "吳"),
             ("Leung", "梁"), ("Lam", "林"), ("Ho", "何"), ("Tse", "謝")),
            (("Ka Ming", "家明"), ("Wing Yan", "詠欣"), ("Chi Keung", "志強"), ("Mei Ling", "美玲"),
             ("Siu Fung", "少峰"), ("Hoi Yan", "凱欣"), ("Tsz Hin", "梓軒"), ("Wai Man", "偉文")),
            True,
            (("Central", 22.2819, 114.1582), ("Kowloon", 22.3193, 114.1694), ("Sha Tin", 22.3771, 114.1974)),
            lambda r: f"+852 {r.choice('569')}{draw_digits(r, 3)} {draw_digits(r, 4)}",
            ("HSBC Hong Kong", "Hang Seng Bank", "Bank of China (Hong Kong)"),
        ),
        Country(
            "SG", 8,
            (("Tan", "陈"), ("Lim", "林"), ("Lee", "李"), ("Ng", "黄"), ("Ong", "王"), ("Goh", "吴")),
            (("Wei Ling", "慧玲"), ("Jun Jie", "俊杰"), ("Hui Min", "慧敏"), ("Zhi Hao", "志豪"),
             ("Xin Yi", "欣怡"), ("Kai Wen", "凯文")),
            True,
            (("Singapore", 1.3521, 103.8198), ("Jurong", 1.3329, 103.7436)),
            lambda r: f"+65 {r.choice('89')}{draw_digits(r, 3)} {draw_digits(r, 4)}",
            ("DBS Bank", "OCBC Bank", "United Overseas Bank"),
        ),
        Country(
            "US", 10,
            (("Smith", ""), ("Johnson", ""), ("Williams", ""), ("Brown", ""), ("Garcia", ""), ("Miller", ""),
             ("Davis", ""), ("Rodriguez", ""), ("Martinez", ""), ("Nguyen", "")),
            (("James", ""), ("Mary", ""), ("Michael", ""), ("Jennifer", ""), ("David", ""), ("Linda", ""),
             ("Daniel", ""), ("Emily", ""), ("Jacob", ""), ("Olivia", "")),
            False,
            (("New York", 40.7128, -74.0060), ("San Francisco", 37.7749, -122.4194), ("Austin", 30.2672, -97.7431)),
            # 555-0100 to 555-0199 are reserved for fiction.
            lambda r: f"+1 {r.choice(['212', '415', '512'])} 555 01{draw_digits(r, 2)}",
            ("Chase", "Bank of America", "Wells Fargo"),
        ),
        Country(
            "GB", 8,
            (("Smith", ""), ("Jones", ""), ("Taylor", ""), ("Brown", ""), ("Wilson", ""), ("Evans", ""),
             ("Thomas", ""), ("Roberts", "")),
            (("Oliver", ""), ("Amelia", ""), ("Harry", ""), ("Isla", ""), ("George", ""), ("Ava", ""),
             ("Jack", ""), ("Emily", "")),
            False,
            (("London", 51.5072, -0.1276), ("Manchester", 53.4808, -2.2426), ("Edinburgh", 55.9533, -3.1883)),
            # 07700 900000 to 900999 are reserved for drama.
            lambda r: f"+44 7700 900{draw_digits(r, 3)}",
            ("Barclays", "HSBC UK", "Lloyds Bank", "NatWest"),
        ),
        Country(
            "DE", 7,
            (("Müller", ""), ("Schmidt", ""), ("Schneider", ""), ("Fischer", ""), ("Weber", ""), ("Meyer", ""),
             ("Wagner", ""), ("Becker", "")),
            (("Lukas", ""), ("Anna", ""), ("Felix", ""), ("Lea", ""), ("Jonas", ""), ("Marie", ""),
             ("Paul", ""), ("Sophie", "")),
            False,
            (("Berlin", 52.5200, 13.4050), ("Frankfurt am Main", 50.1109, 8.6821), ("München", 48.1351, 11.5820)),
            lambda r: f"+49 15{draw_digits(r, 1)} {draw_digits(r, 7)}",
            ("Deutsche Bank", "Commerzbank", "Sparkasse"),
        ),
        Country(
            "KR", 7,
            (("Kim", "김"), ("Lee", "이"), ("Park", "박"), ("Choi", "최"), ("Jung", "정"), ("Kang", "강"),
             ("Cho", "조"), ("Yoon", "윤")),
            (("Min-jun", "민준"), ("Seo-yeon", "서연"), ("Ji-ho", "지호"), ("Ha-eun", "하은"), ("Do-yun", "도윤"),
             ("Ji-woo", "지우"), ("Seo-jun", "서준"), ("Su-ah", "수아")),
            True,
            (("Seoul", 37.5665, 126.9780), ("Busan", 35.1796, 129.0756), ("Incheon", 37.4563, 126.7052)),
            lambda r: f"+82 10 {draw_digits(r, 4)} {draw_digits(r, 4)}",
            ("KB Kookmin Bank", "Shinhan Bank", "Woori Bank"),
        ),
        Country(
            "JP", 7,
            (("Sato", "佐藤"), ("Suzuki", "鈴木"), ("Takahashi", "高橋"), ("Tanaka", "田中"),
             ("Watanabe", "渡辺"), ("Ito", "伊藤"), ("Yamamoto", "山本"), ("Nakamura", "中村")),
            (("Haruto", "陽翔"), ("Yui", "結衣"), ("Sota", "蒼太"), ("Hina", "陽菜"), ("Ren", "蓮"), ("Aoi", "葵"),
             ("Yuki", "由紀"), ("Kenji", "健二")),
            True,
            (("Tokyo", 35.6762, 139.6503), ("Osaka", 34.6937, 135.5023), ("Yokohama", 35.4437, 139.6380)),
            lambda r: f"+81 {r.choice(['70', '80', '90'])} {draw_digits(r, 4)} {draw_digits(r, 4)}",
            ("MUFG Bank", "Sumitomo Mitsui Banking", "Mizuho Bank"),
        ),
        Country(
            "FR", 6,
            (("Martin", ""), ("Bernard", ""), ("Dubois", ""), ("Thomas", ""), ("Robert", ""), ("Richard", ""),
             ("Petit", ""), ("Durand", "")),
            (("Gabriel", ""), ("Louise", ""), ("Raphaël", ""), ("Jade", ""), ("Léo", ""), ("Ambre", ""),
             ("Louis", ""), ("Chloé", "")),
            False,
            (("Paris", 48.8566, 2.3522), ("Lyon", 45.7640, 4.8357), ("Marseille", 43.2965, 5.3698)),
            lambda r: f"+33 {r.choice('67')} " + " ".join(draw_digits(r, 2) for _ in range(4)),
            ("BNP Paribas", "Société Générale", "Crédit Agricole"),
        ),
        Country(
            "IN", 7,
            (("Sharma", ""), ("Patel", ""), ("Iyer", ""), ("Reddy", ""), ("Singh", ""), ("Gupta", ""),
             ("Nair", ""), ("Mehta", "")),
            (("Aarav", ""), ("Priya", ""), ("Rohan", ""), ("Ananya", ""), ("Vikram", ""), ("Sneha", ""),
             ("Arjun", ""), ("Kavya", "")),
            False,
            (("Mumbai", 19.0760, 72.8777), ("Bengaluru", 12.9716, 77.5946), ("New Delhi", 28.6139, 77.2090)),
            lambda r: f"+91 {r.choice('6789')}{draw_digits(r, 4)} {draw_digits(r, 5)}",
            ("State Bank of India", "HDFC Bank", "ICICI Bank"),
        ),
    )
}
COUNTRY_CODES = tuple(COUNTRIES)
COUNTRY_WEIGHTS = tuple(c.weight for c in COUNTRIES.values())
# Where demo institutions are incorporated.
INSTITUTION_COUNTRIES = ("CN", "HK", "SG", "GB", "US")
