"""IKEA product types -> pipeline categories (`adstage.vision.ikea.category_of`), by head noun.

EXPECTED is the category of every distinct `type` in the IKEA research set's products.jsonl,
reviewed by hand (IKEA's type strings only; no image is committed). A substring match had made
"Bedside table" a bed, "Chair cushion" and "Stool cover" chairs, "14-piece vegetables set" a
table, "LED cabinet lighting" a cabinet and "Net for plant pot" a plant pot.
"""
from __future__ import annotations

import json

import pytest

from adstage.vision import ikea
from adstage.vision.ikea import category_of

EXPECTED: dict[str | None, list[str]] = {
    'armchair': [
        'Armchair', "Children's armchair", 'High-back armchair', 'Swivel armchair',
    ],
    'bed': [
        'Bed frame', 'Bed frame w storage+slatted bedbase', 'Bed frame with 4 storage boxes',
        'Bed frame with storage', 'Bed frame, high', 'Bed frame, high, w 4 storage boxes',
        'Bed frm w headboard+slatted bd base', 'Bunk bed frame', 'Day-bed frame',
        'Day-bed frame with 2 drawers', 'Day-bed frame with 3 drawers', 'Divan bed',
        'Ext bed frame with slatted bed base', 'Extendable bed', 'Loft bed frame',
        'Reversible bed', 'Cot', 'Cot with drawers',
    ],
    'cabinet': [
        'Base cabinet with doors and drawer', 'Bookcase', 'Bookcase with glass door',
        'Cabinet with doors', 'Cabinet with panel,glass-door', 'Cabinet with shelf unit',
        'Changing table,cabinet', 'Changing table,chest of drawers', 'Chest of 2 drawers',
        'Chest of 3 drawers', 'Chest of 4 drawers', 'Chest of 5 drawers', 'Chest of 6 drawers',
        'Chest of 8 drawers', 'Chest of 9 drawers', 'Corner cabinet', 'Corner shelf unit',
        'Glass-door cabinet', 'Glass-door cabinet with 2 doors',
        'Glass-door cabinet with 3 drawers', 'Glass-door wall cabinet',
        'Greenhouse,cabinet, in,outdoor', 'High cabinet', 'High cabinet with door',
        'High cabinet with mirror door', 'Mirror cabinet', 'Mirror cabinet with 1 door',
        'Mirror cabinet with 2 doors', 'Open cabinet', 'Shelf unit', 'Shelf unit with door',
        'Shelf unit with doors', 'Shelving unit', 'Shelving unit in,outdoor',
        'Shoe cabinet with 4 compartments', 'Sideboard', 'Sideboard basic unit', 'Wall cabinet',
        'Wall cabinet w shelves,2 glass drs', 'Wall cabinet with 2 doors',
        'Wall cabinet with doors', 'Wall cabinet with glass door', 'Wardrobe', 'Wardrobe frame',
        'Wardrobe with 2 doors+2 drawers', 'Wardrobe with 2 sliding doors',
        'Wardrobe with 3 doors', 'Wash-basin cabinet with 1 door',
        'Wash-basin cabinet with 2 doors', 'Washbasin cabinet with 2 doors',
    ],
    'chair': [
        'Bar stool', 'Bar stool with backrest', 'Chair', 'Chair with armrests',
        'Chair with armrests, outdoor', 'Chair, outdoor', "Children's chair", "Children's stool",
        'Desk chair', 'Easy chair', 'Easy chair, outdoor', 'Folding chair', 'Footstool',
        'Footstool with storage', 'Highchair with safety belt', 'Junior chair',
        'Junior desk chair', 'Rocking-chair', 'Step stool', 'Stool', 'Stool, outdoor',
        'Swivel chair', 'Swivel chair with armrests', 'Swivel easy chair', 'Wing chair',
    ],
    'clock': [
        'Alarm clock', 'Wall clock',
    ],
    'lamp': [
        'Ceiling lamp', 'Ceiling spotlight with 5 spots', 'Ceiling,wall lamp', 'Chandelier',
        'Floor lamp', 'Floor lamp base', 'Floor lamp with wireless charging', 'Floor,reading lamp',
        'Lamp shade', 'LED spotlight', 'LED spotlight and clamp', 'LED wall lamp',
        'LED wall,clamp spotlight', 'LED work lamp', 'LED work lamp w wireless charging',
        'LED work,wall lamp', 'Pendant lamp', 'Pendant lamp shade', 'Pendant lamp, 3-armed',
        'Table lamp', 'Table lamp base', 'Wall lamp', 'Wall,clamp spotlight', 'Work lamp',
    ],
    'plant_pot': [
        'Plant pot', 'Plant pot with saucer', 'Self-watering plant pot',
    ],
    'sofa': [
        '2-seat sofa, outdoor', 'Three-seat sofa', 'Three-seat sofa-bed', 'Two-seat sofa',
        'Two-seat sofa and chaise longue', 'Two-seat sofa w chaise longue left',
        'Two-seat sofa w chaise longue right', 'Two-seat sofa with chaise longue',
    ],
    'table': [
        'Bar table', 'Bedside table', 'Bedside table w wireless charging', 'Changing table',
        "Children's picnic table", "Children's table", "Children's table with 2 chairs",
        'Coffee table', 'Conference table', 'Console table', 'Desk', 'Desk with add-on unit',
        'Drop-leaf table', 'Extendable table', 'Gateleg table', 'Laptop table',
        'Nest of tables, set of 2', 'Pedestal table', 'Side table', 'Storage table', 'Table',
        'Table with drawers', 'Table+2 chairs, outdoor', 'Table, outdoor', 'Tray table, outdoor',
        'Wall-mounted drop-leaf table',
    ],
    None: [
        '1 section', '10-piece coffee,tea set', '12-piece train set, bridge, tunnel',
        '14-piece vegetables set', '2 sections', '2-piece bathroom set',
        '20-piece basic train set', '24 building blocks with wagon', '24-piece cutlery set',
        '3 sections', '3-piece bedlinen set for cot', '3-piece oil,vinegar set',
        '3-piece train set', '4-piece kitchen utensil set', '4-seat conversation set, outdoor',
        '5-p serving stand with cupcakes set', '5-piece toy cookware set',
        '5-piece toy kitchen utensil set', '7-piece cleaning set w string mop',
        '7-piece container set with rail', '9-piece fruit basket set', 'Add-on unit', 'Art card',
        'Artificial potted plant', 'Baby gym', 'Baby towel with hood', 'Babycare mat',
        'Back cushion, outdoor', 'Basket', 'Basket with suction cup', 'Basket, set of 2',
        'Basket, set of 4', 'Bath mat', 'Bath sheet', 'Bath towel', 'Bead roller coaster',
        'Bed canopy', 'Bed pocket', 'Bed runner', 'Bed storage box', 'Bed tent', 'Bedspread',
        'Bedspread and 2 cushion covers', 'Bench', 'Bench cover', 'Bench with shoe storage',
        'Bench with wall panel, outdoor', 'Bench, outdoor', 'Bin with lid', 'Blanket',
        'Block candle holder', 'Block-out roller blind', 'Board game', 'Book display',
        'Bottle with stopper', 'Bowl', 'Box', 'Box file, set of 3', 'Box with compartments',
        'Box with handle', 'Box with lid', 'Box with lid, in,outdoor', 'Box with lid, set of 4',
        'Box with lid, set of 5', 'Box, set of 3', 'Box, set of 6', 'Bracket',
        'Built-in extractor hood', 'Cable trunking horizontal', 'Candle holder, set of 2',
        'Candle holder, set of 3', 'Canopy', 'Carafe', 'Carafe with lid', 'Carafe with stopper',
        'Casserole with lid', 'Ceiling track, 3-spots', 'Cellular blind', 'Chair cushion',
        'Chair cushion, outdoor', 'Chaise longue', "Children's coat-hanger", "Children's tent",
        'Childrens apron with chefs hat', 'Chopping board', 'Clothes bar', 'Clothes rack',
        'Clothes rack, in,outdoor', 'Clothes stand', 'Coaster', 'Coffee,tea maker',
        'Comfort blanket with soft toy', 'Cone', 'Container', 'Cord set', 'Corner unit',
        'Cot skirt', 'Cover', 'Cover for chaise longue', 'Cover two-seat sofa',
        'Cow hide', 'Crane with blocks', 'Curtain rod set', 'Curtains with tie-backs, 1 pair',
        'Curtains, 1 pair', 'Cushion', 'Cushion cover', 'Cutlery stand', 'Decoration',
        'Decoration ball, set of 8', 'Decoration, ball', 'Deep plate', 'Deep plate,bowl',
        'Desk organiser', 'Desk top', 'Dish drainer', "Doll's furniture, living-room",
        'Dolls house,wall shelf', 'Door', 'Door mat', 'Door tag', 'Double bowl', 'Double hook',
        'Drawer front', 'Drawer unit', 'Drawer unit on castors', 'Drawer unit with 9 drawers',
        'Duvet, 12 TOG', 'End unit', 'Extractor hood', 'Fabric', 'Finials, 1 pair', 'Fitted sheet',
        'Fitted sheet for cot', 'Flexi clothes-basket, in,outdoor', 'Floor decking, outdoor',
        'Flower box', 'Fork', 'Frame', 'Frame, set of 4', 'Fridge with freezer compartment A++',
        'Fridge,freezer A++', 'Gas hob', 'Gazebo', 'Glass', 'Glass ceramic hob',
        'Glass dome with base', 'Glass door', 'Glass shelf', 'Greenhouse', 'Hand towel', 'Handle',
        'Hanger', 'Hanger for door,wall', 'Hanger with clip', 'Hanger, in,outdoor',
        'Hanging dryer 16 clothes pegs', 'Hanging storage', 'Hat and coat stand', 'Hat rack',
        'Headboard with storage compartment', 'Holder for containers', 'Holder with containers',
        'Hook', 'Induction hob', 'Induction hob with booster',
        'Induction hob with bridge function', 'Insert with door', 'Inset sink 1 1,2 bowl',
        'Inset sink, 1 bowl', 'Inset sink, 1 bowl with drainboard', 'Inset sink, 2 bowls',
        'Ironingboard, table', 'Jar with lid', 'Jug', 'Jug with lid', 'Juggling set',
        'Kitchen island', 'Kitchen mixer tap', 'Kitchen mixer tap,handspray', 'Kitchen trolley',
        'Knife holder', 'Knob', 'Knob rack with 3 knobs', 'Knob rack with 4 knobs',
        'Lantern for block candle', 'LED 4-piece lighting strip set', 'LED cabinet lighting',
        'LED cabinet,wall lighting', 'LED decoration light chain 15 balls', 'LED lighting box',
        'LED lighting chain with 48 lights', 'LED lighting strip', 'LED night light',
        'LED worktop lighting', 'Leg', 'Magazine file', 'Magazine file set of 2',
        'Magnetic knife rack', 'Microwave combi with forced air', 'Microwave oven',
        'Mini chest with 3 drawers', 'Mirror', 'Mirror cab 2 door,built-in lighting',
        'Mirror with hooks and suction cup', 'Mirror with shelf', 'Mobile', 'Mug',
        'Musical toy, sheep', 'Muslin square', 'Net curtains, 1 pair', 'Net for plant pot',
        'Noticeboard', 'Oven', 'Over-the-door mirror', 'Parasol', 'Parasol with base',
        'Peg basket with 30 clothes pegs', 'Pestle and mortar', 'Picture ledge',
        'Picture, set of 3', 'Pillow, firmer', 'Pillowcase', 'Place mat', 'Plate', 'Plate shelf',
        'Play kitchen', 'Play mat', 'Play tunnel', 'Playbook', 'Pleated blind',
        'Post,foot,drying rack', 'Post,foot,mesh baskets', 'Pot with lid', 'Potted plant',
        'Potting bench', 'Pouffe', 'Power supply cord', 'Pull-out tray with jewellery insert',
        'Pyrolytic oven', 'Quilt cover and 2 pillowcases', 'Quilt cover and 4 pillowcases',
        'Quilt cover and pillowcase', 'Quilt cover,pillowcase for cot', 'Quilt,blanket',
        'Rack with 3 hooks', 'Rack with 7 hooks', 'Rail', 'Rattle', 'Red wine glass',
        'Roman blind', 'Rug', 'Rug, braided', 'Rug, flatwoven', 'Rug, high pile', 'Rug, low pile',
        'S-hook', 'Saucepan with lid', 'Scented candle in glass', 'Seat module', 'Serving bowl',
        'Serving plate', 'Serving stand with lid', 'Serving stand, two tiers', 'Shape sorter',
        'Sheepskin', 'Sheer curtains, 1 pair', 'Sheet', 'Shelf', 'Shelf for wall panel, outdoor',
        'Shoe shelf', 'Shoehorn', 'Shower curtain', 'Shower curtain ring', 'Shower shelf',
        'Side plate', 'Side unit', 'Single wash-basin', 'Single-bowl inset sink',
        'Single-lever kitchen mixer tap', 'Sleeping bag', 'Soap dish', 'Soap dispenser',
        'Soap dispenser holder', 'Soap dispenser with suction cup', 'Soft toy',
        'Soft toy, set of 2', 'Spice mill', 'Spoon', 'Sprung mattress', 'Squeaky toy',
        'Stacking game', 'Standing mirror', 'Stockpot with lid', 'Stool cover',
        'Stor baskets changing tbl set of 4', 'Storage bag', 'Storage bag with stand',
        'Storage bench', 'Storage box', 'Storage combination',
        'Storage combination w doors,drawers', 'Storage combination with bench',
        'Storage combination with boxes', 'Storage combination with doors',
        'Storage combination with drawers', 'Storage crate with castors', 'Table mirror',
        'Table top', 'Tablet stand', 'Tea towel', 'Tealight holder', 'Teapot', 'Throw',
        'Toddle truck', 'Toilet brush,holder', 'Toilet roll holder', 'Toilet roll stand',
        'Toilet seat', 'Toothbrush holder', 'Towel hanger', 'Towel hanger,shelf',
        'Towel rack with 2 hooks', 'Towel rack with 5 hooks', 'Towel rail', 'Toy car',
        'Toy cash register', 'Toy storage with wheels', 'Toy vehicle', 'Training beaker', 'Tray',
        'Trellis', 'Trestle', 'Triple pad for wireless charging', 'Trolley',
        'Trouser,skirt hanger', 'TV bench', 'TV bench with sliding doors', 'Underbed',
        'Valet hanger', 'Valet stand', 'Vase', 'Vase, set of 2', 'Vase, set of 3',
        'Vase,bowl, set of 3', 'Vase,lantern', 'Wall hook', 'Wall mounted extractor hood',
        'Wall newspaper rack', 'Wall panel', 'Wall pockets', 'Wall rail with hooks', 'Wall shelf',
        'Wall storage', 'Wall upright,shelves', 'Wall upright,shelves,drying rack',
        'Wash-basin mixer tap with strainer', 'Wash-stand with 2 drawers', 'Washcloth',
        'Waste sorting bin', 'Wastepaper basket', 'Watering can', 'Whiskey glass', 'Window catch',
        'Wine glass', 'Wire basket', 'Wood stain, outdoor use', 'Workstation', 'Worktop',
        'Worktop, double-sided', 'Writing,magnetic board', 'Wsh-stnd w countertop 45 wsh-basin',
    ],
}

CASES = [(t, cat) for cat, types in EXPECTED.items() for t in types]


@pytest.mark.parametrize("product_type, category", CASES, ids=[t for t, _ in CASES])
def test_every_ikea_type_maps_to_its_reviewed_category(product_type, category):
    assert category_of(product_type) == category


@pytest.mark.parametrize("product_type, category", [
    ("Vegetable knife", None), ("Induction hob, portable", None), ("Mattress", None),
    ("Sprung mattress", None), ("Sheet", None), ("Fitted sheet", None), ("Chair pad", None),
    ("Chair pads, set of 4", None), ("LED stool lamp", "lamp"), ("Table lamp", "lamp"),
    ("Bedside table", "table"), ("Stool", "chair"), ("Coffee tables", "table"),
    ("", None), (None, None), ("Bed", "bed"), ("Sofa-bed", "sofa"),
])
def test_the_head_noun_decides(product_type, category):
    assert category_of(product_type) == category


def test_the_table_covers_every_type_of_the_set():
    """Fails when the research set gains a type nobody reviewed (skips without the set)."""
    products = ikea.DEFAULT_ROOT / "products.jsonl"
    if not products.is_file():
        pytest.skip(f"IKEA research set not at {ikea.DEFAULT_ROOT}")
    types = {json.loads(l).get("type") for l in products.read_text().splitlines()} - {None}
    reviewed = {t for t, _ in CASES}
    assert types - reviewed == set() and len(CASES) == len(reviewed)
