"""The eleven products Robot Shop starts with (``mongo/catalogue.js``), in their natural order.

Migration 0002 inserts exactly these rows, so this data is frozen: a change to the shop's products ships
as a new migration, never as an edit here. The ``_id`` values are fixed Mongo-style ids, so every install
(and every backend) shows the same ids.
"""

from __future__ import annotations

from roboshop.catalogue.domain import Product

AI = "Artificial Intelligence"
ROBOT = "Robot"

SEED_PRODUCTS: tuple[Product, ...] = (
    Product(
        "586846807f97cc4f40000001",
        "Watson",
        "Watson",
        "Probably the smartest AI on the planet",
        2001,
        2,
        (AI,),
    ),
    Product("586846807f97cc4f40000002", "Ewooid", "Ewooid", "Fully sentient assistant", 200, 0, (AI,)),
    Product(
        "586846807f97cc4f40000003",
        "HPTD",
        "High-Powered Travel Droid",
        "Traveling to the far reaches of the Galaxy? You need this for protection. "
        "Comes in handy when you are lost in space",
        1200,
        12,
        (ROBOT,),
    ),
    Product(
        "586846807f97cc4f40000004",
        "UHJ",
        "Ultimate Harvesting Juggernaut",
        "Extraterrestrial vegetation harvester",
        5000,
        10,
        (ROBOT,),
    ),
    Product(
        "586846807f97cc4f40000005",
        "EPE",
        "Extreme Probe Emulator",
        "Versatile interface adapter for hacking into systems",
        953,
        1,
        (ROBOT,),
    ),
    Product(
        "586846807f97cc4f40000006",
        "EMM",
        "Exceptional Medical Machine",
        "Fully automatic surgery droid with exceptional bedside manner",
        1024,
        1,
        (ROBOT,),
    ),
    Product(
        "586846807f97cc4f40000007",
        "SHCE",
        "Strategic Human Control Emulator",
        "Diplomatic protocol assistant",
        300,
        12,
        (ROBOT,),
    ),
    Product(
        "586846807f97cc4f40000008",
        "RED",
        "Responsive Enforcer Droid",
        "Security detail, will gaurd anything",  # the original's spelling
        700,
        5,
        (ROBOT,),
    ),
    Product(
        "586846807f97cc4f40000009",
        "RMC",
        "Robotic Mining Cyborg",
        "Excellent tunneling capability to get those rare minerals",
        42,
        48,
        (ROBOT,),
    ),
    Product("586846807f97cc4f4000000a", "STAN-1", "Stan", "Observability guru", 67, 1000, (ROBOT, AI)),
    Product(
        "586846807f97cc4f4000000b",
        "CNA",
        "Cybernated Neutralization Android",
        "Is your spaceship a bit whiffy? This little fellow will bring a breath of fresh air",
        1000,
        0,
        (ROBOT,),
    ),
)
