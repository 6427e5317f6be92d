"""The slot quota (adstage.staging.donor_quota): no donor slot stages more than its share."""
import pandas as pd
import pytest

from adstage.staging.donor_quota import assign, capacity


def pairs(rows):
    return pd.DataFrame(rows, columns=["product_id", "slot_id", "rank", "score"])


def test_capacity_is_the_share_or_an_even_spread_whichever_is_larger():
    assert capacity(0.05, 200, 40, 20) == 10       # 5 % of 200
    assert capacity(0.05, 200, 40, 2) == 20        # 40 products over 2 slots need 20 each
    assert capacity(0.05, 10, 3, 30) == 1          # never 0 for a group with products
    assert capacity(0.05, 10, 0, 3) == 0


def test_no_slot_takes_more_than_its_capacity_and_better_scores_choose_first():
    # Six products all prefer slot A; 3 slots for 6 products of 100 paired: capacity 2.
    rows = []
    for i in range(6):
        score = 0.9 - 0.01 * i
        rows += [(f"p{i}", "A", 1, score), (f"p{i}", "B", 2, score - 0.1),
                 (f"p{i}", "C", 3, score - 0.2)]
    out = assign(pairs(rows), share=0.02, n_products=100)
    first = out[out.order == 1].set_index("product_id")["slot_id"]
    assert first.value_counts().max() == 2
    assert list(first[["p0", "p1"]]) == ["A", "A"]          # the best two keep their first choice
    assert list(first[["p2", "p3"]]) == ["B", "B"]
    assert list(first[["p4", "p5"]]) == ["C", "C"]


def test_fallbacks_are_the_other_candidates_with_room_in_rank_order():
    rows = [("p0", "A", 1, 0.9), ("p0", "B", 2, 0.8), ("p0", "C", 3, 0.7),
            ("p1", "A", 1, 0.8), ("p1", "C", 2, 0.7),
            ("p2", "C", 1, 0.95)]
    # 3 products, 3 slots, share 0: no quota, pairing order kept.
    kept = assign(pairs(rows), share=0.0, n_products=3)
    assert list(kept[kept.product_id == "p0"].sort_values("order").slot_id) == ["A", "B", "C"]
    # capacity 1: p2 takes C, p0 takes A, p1 finds A and C full.
    out = assign(pairs(rows), share=0.01, n_products=3)
    p0 = out[out.product_id == "p0"].sort_values("order")
    assert list(p0.slot_id) == ["A", "B"]                   # C is full: no longer a fallback
    assert list(p0.order) == [1, 2]
    p1 = out[out.product_id == "p1"]
    assert len(p1) == 1 and p1.slot_id.isna().all() and (p1.order == 0).all()


def test_no_slot_is_listed_by_more_products_than_its_capacity_fallbacks_included():
    # Ten products over four slots, every one a candidate of every product: capacity 3.
    rows = [(f"p{i}", s, r, 0.9 - 0.01 * i - 0.05 * r)
            for i in range(10) for r, s in enumerate("ABCD", start=1)]
    out = assign(pairs(rows), share=0.3, n_products=10)
    listed = out.dropna(subset=["slot_id"]).groupby("slot_id").product_id.nunique()
    assert listed.max() <= 3                     # even if every assigned donor failed
    first = out[out.order == 1]
    assert len(first) == 10 and first.slot_id.value_counts().max() <= 3
    p0 = out[out.product_id == "p0"].sort_values("order")
    # A, B and C are full with assigned products; D has room for two fallbacks, and the best
    # products reserve them
    assert list(p0.slot_id) == ["A", "D"]
    with_d = out[(out.slot_id == "D") & (out.order > 1)].product_id
    assert sorted(with_d) == ["p0", "p1"]


def test_assignment_is_deterministic_whatever_the_row_order():
    rows = [(f"p{i}", s, r, 0.5 + 0.01 * ((i * 7 + r) % 5))
            for i in range(12) for r, s in enumerate("ABCD", start=1)]
    a = assign(pairs(rows), 0.1, 12)
    b = assign(pairs(rows).sample(frac=1.0, random_state=3), 0.1, 12)
    key = ["product_id", "order"]
    pd.testing.assert_frame_equal(a.sort_values(key).reset_index(drop=True)[key + ["slot_id"]],
                                  b.sort_values(key).reset_index(drop=True)[key + ["slot_id"]])


@pytest.mark.parametrize("share", [0.05, 0.2])
def test_other_columns_are_kept(share):
    df = pairs([("p0", "A", 1, 0.9), ("p1", "A", 1, 0.8)]).assign(donor_category="chair")
    out = assign(df, share, 2)
    assert set(out.columns) >= {"donor_category", "order"}
    assert (out.donor_category == "chair").all()
