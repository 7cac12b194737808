//! Unit tests of GPU inventories, share packing and requests.
use super::*;

const GIB: u64 = 1 << 30;

fn req(model: &str, count: u32, fraction: f64) -> GpuRequest {
    GpuRequest {
        r#type: model.into(),
        count,
        fraction,
    }
}

fn ledger(spec: &str) -> Ledger {
    Ledger::new(Inventory::declared(spec).unwrap())
}

fn used(l: &Ledger) -> Vec<u8> {
    l.cards()
        .map(|c| l.used_quarters(&c.uuid).unwrap())
        .collect()
}

#[test]
fn a_quarter_and_three_quarters_share_one_card() {
    let mut l = ledger("2xH100 80GB");
    let a = l.place(&req("H100 80GB", 1, 0.25), "a").unwrap();
    let b = l.place(&req("H100 80GB", 1, 0.75), "b").unwrap();
    assert_eq!(a.card_uuids, ["GPU-declared-0"]);
    assert_eq!(b.card_uuids, ["GPU-declared-0"]);
    assert_eq!((a.quarters_per_card, b.quarters_per_card), (1, 3));
    assert_eq!(used(&l), [4, 0]);
}

#[test]
fn halves_pair_up_and_a_third_goes_to_the_next_card() {
    let mut l = ledger("2xH100 80GB");
    let half = req("H100 80GB", 1, 0.5);
    assert_eq!(l.place(&half, "a").unwrap().card_uuids, ["GPU-declared-0"]);
    assert_eq!(l.place(&half, "b").unwrap().card_uuids, ["GPU-declared-0"]);
    assert_eq!(l.place(&half, "c").unwrap().card_uuids, ["GPU-declared-1"]);
    assert_eq!(used(&l), [4, 2]);
}

#[test]
fn best_fit_prefers_the_fullest_card_that_still_fits() {
    let mut l = ledger("3xA10G 24GB");
    l.place(&req("any", 1, 0.5), "a").unwrap(); // card 0: 2 used
    l.place(&req("any", 1, 0.75), "b").unwrap(); // card 1 (card 0 has only 2 free)
    assert_eq!(used(&l), [2, 3, 0]);
    // A quarter fits cards 0, 1 and 2: card 1 has the least room left.
    let c = l.place(&req("any", 1, 0.25), "c").unwrap();
    assert_eq!(c.card_uuids, ["GPU-declared-1"]);
    // Two quarters fit card 0 only among the used ones, before the free card 2.
    let d = l.place(&req("any", 1, 0.5), "d").unwrap();
    assert_eq!(d.card_uuids, ["GPU-declared-0"]);
    assert_eq!(used(&l), [4, 4, 0]);
}

#[test]
fn whole_cards_skip_partly_used_cards() {
    let mut l = ledger("2xH100 80GB");
    l.place(&req("H100 80GB", 1, 0.25), "a").unwrap();
    let whole = l.place(&req("H100 80GB", 1, 1.0), "b").unwrap();
    assert_eq!(whole.card_uuids, ["GPU-declared-1"]);
    assert_eq!(whole.quarters_per_card, 4);
    assert!(l.place(&req("H100 80GB", 1, 1.0), "c").is_none());
    // A share still fits beside the quarter.
    assert!(l.place(&req("H100 80GB", 1, 0.75), "c").is_some());
}

#[test]
fn several_cards_need_that_many_free_cards() {
    let mut l = ledger("3xH100 80GB");
    l.place(&req("H100 80GB", 1, 0.25), "a").unwrap();
    let two = l.place(&req("H100 80GB", 2, 1.0), "b").unwrap();
    assert_eq!(two.card_uuids, ["GPU-declared-1", "GPU-declared-2"]);
    assert_eq!(two.cards_worth(), 2.0);
    assert_eq!(used(&l), [1, 4, 4]);

    let mut l = ledger("2xH100 80GB");
    l.place(&req("H100 80GB", 1, 0.25), "a").unwrap();
    assert!(!l.fits(&req("H100 80GB", 2, 1.0)));
    assert!(l.place(&req("H100 80GB", 2, 1.0), "b").is_none());
    assert_eq!(used(&l), [1, 0], "a failed placement takes nothing");
}

#[test]
fn several_cards_are_one_model_from_the_smallest_group_that_fits() {
    let mut l = ledger("4xH100 80GB;2xA10G 24GB");
    let two = l.place(&req("any", 2, 1.0), "a").unwrap();
    assert_eq!(two.card_uuids, ["GPU-declared-4", "GPU-declared-5"]);
    let three = l.place(&req("any", 3, 1.0), "b").unwrap();
    assert_eq!(
        three.card_uuids,
        ["GPU-declared-0", "GPU-declared-1", "GPU-declared-2"]
    );
    // One H100 is left: two cards of one model no longer exist.
    assert!(l.place(&req("any", 2, 1.0), "c").is_none());
}

#[test]
fn release_frees_the_share() {
    let mut l = ledger("1xH100 80GB");
    let a = l.place(&req("H100 80GB", 1, 0.75), "a").unwrap();
    assert!(l.place(&req("H100 80GB", 1, 0.5), "b").is_none());
    assert_eq!(l.allocation("a"), Some(&a));
    assert_eq!(l.release("a"), Some(a));
    assert_eq!(l.release("a"), None);
    assert_eq!(used(&l), [0]);
    assert!(l.place(&req("H100 80GB", 1, 1.0), "b").is_some());
}

#[test]
fn one_holder_holds_one_allocation() {
    let mut l = ledger("2xH100 80GB");
    assert!(l.place(&req("any", 1, 0.25), "a").is_some());
    assert!(l.place(&req("any", 1, 0.25), "a").is_none());
    assert_eq!(used(&l), [1, 0]);
}

#[test]
fn models_match_ignoring_case_and_spacing_and_any_takes_all() {
    let mut l = ledger("H100 80GB,A10G 24GB");
    let a = l.place(&req("a10g  24gb", 1, 1.0), "a").unwrap();
    assert_eq!(a.card_uuids, ["GPU-declared-1"]);
    assert!(l.place(&req("A10G 24GB", 1, 0.25), "b").is_none());
    assert!(l.place(&req("A100 80GB", 1, 0.25), "b").is_none());
    assert!(
        l.place(&req("H100", 1, 0.25), "b").is_none(),
        "no prefix matching"
    );
    let b = l.place(&req("ANY", 1, 0.25), "b").unwrap();
    assert_eq!(b.card_uuids, ["GPU-declared-0"]);
    assert!(model_matches("any", "whatever"));
    assert!(model_matches(" H100   80GB ", "h100 80gb"));
    assert!(!model_matches("H100 80GB", "H100 94GB"));
}

#[test]
fn nothing_fits() {
    let mut empty = Ledger::new(Inventory::default());
    assert!(empty.place(&req("any", 1, 0.25), "a").is_none());
    assert!(empty.free_shares().is_empty());

    let mut l = ledger("1xA10G 24GB");
    assert!(
        l.place(&req("any", 2, 1.0), "a").is_none(),
        "too many cards"
    );
    assert!(l.place(&req("any", 1, 0.3), "a").is_none(), "not a quarter");
    assert!(l.place(&req("any", 2, 0.5), "a").is_none(), "a share of 2");
    assert!(l.place(&req("", 1, 0.5), "a").is_none(), "no model");
    assert!(!l.fits(&req("any", 9, 1.0)));
    assert!(l.fits(&req("any", 1, 1.0)));
    assert_eq!(used(&l), [0]);
}

#[test]
fn free_shares_per_model() {
    let mut l = ledger("2xH100 80GB;1xA10G 24GB");
    l.place(&req("H100 80GB", 1, 0.25), "a").unwrap();
    let shares = l.free_shares();
    assert_eq!(
        shares,
        [
            ModelShares {
                model: "H100 80GB".into(),
                memory_bytes: 80 * GIB,
                cards: 2,
                free_quarters: 7,
                whole_free_cards: 1,
                largest_free_quarters: 4,
                declared: true,
            },
            ModelShares {
                model: "A10G 24GB".into(),
                memory_bytes: 24 * GIB,
                cards: 1,
                free_quarters: 4,
                whole_free_cards: 1,
                largest_free_quarters: 4,
                declared: true,
            },
        ]
    );
    l.place(&req("H100 80GB", 1, 1.0), "b").unwrap();
    let h100 = &l.free_shares()[0];
    assert_eq!(
        (
            h100.free_quarters,
            h100.whole_free_cards,
            h100.largest_free_quarters
        ),
        (3, 0, 3)
    );
}

#[test]
fn duplicate_uuids_are_left_out() {
    let card = |uuid: &str| Card {
        uuid: uuid.into(),
        model: "T4".into(),
        memory_bytes: 0,
        declared: false,
    };
    let l = Ledger::new(Inventory {
        cards: vec![card("GPU-1"), card("GPU-1"), card("GPU-2")],
    });
    assert_eq!(l.cards().count(), 2);
}

#[test]
fn declared_specs() {
    let cards = parse_declared("2xH100 80GB").unwrap();
    assert_eq!(
        cards,
        [
            Card {
                uuid: "GPU-declared-0".into(),
                model: "H100 80GB".into(),
                memory_bytes: 80 * GIB,
                declared: true,
            },
            Card {
                uuid: "GPU-declared-1".into(),
                model: "H100 80GB".into(),
                memory_bytes: 80 * GIB,
                declared: true,
            },
        ]
    );
    let models = |spec: &str| -> Vec<(String, String, u64)> {
        parse_declared(spec)
            .unwrap()
            .into_iter()
            .map(|c| (c.uuid, c.model, c.memory_bytes))
            .collect()
    };
    let mixed = vec![
        ("GPU-declared-0".into(), "H100 80GB".into(), 80 * GIB),
        ("GPU-declared-1".into(), "A10G 24GB".into(), 24 * GIB),
    ];
    assert_eq!(models("H100 80GB,A10G 24GB"), mixed);
    assert_eq!(models(" 1 x H100   80GB ; 1X A10G 24GB "), mixed);
    assert_eq!(
        models("2xH100 80GB;1xA10G 24GB").len(),
        3,
        "counts add up across entries"
    );
    assert_eq!(models("T4"), [("GPU-declared-0".into(), "T4".into(), 0)]);
    assert_eq!(
        models("RTX 4090 24GiB"),
        [("GPU-declared-0".into(), "RTX 4090 24GiB".into(), 24 * GIB)]
    );
    assert_eq!(
        models("4090"),
        [("GPU-declared-0".into(), "4090".into(), 0)],
        "digits without an x are a model"
    );
    assert_eq!(models("L4 7.5GB")[0].2, 15 * GIB / 2);
}

#[test]
fn bad_declared_specs() {
    assert_eq!(parse_declared(""), Err(LimitError::GpuSpecEmpty));
    assert_eq!(parse_declared("  "), Err(LimitError::GpuSpecEmpty));
    let cases = [
        ("0xH100", 1, "count must be 1 or more"),
        ("2x", 1, "no model"),
        ("2x   ", 1, "no model"),
        ("H100 80GB,,A10G", 2, "empty entry"),
        ("H100 80GB,", 2, "empty entry"),
        ("99999999999999999999999xH100", 1, "too large"),
        ("H100 0GB", 1, "more than 0"),
        ("H100 1.2.3GB", 1, "not a number"),
        ("H100 5000GB", 1, "at most 1024GB"),
        ("T4;any", 2, "\"any\""),
        ("2xH100\u{7}", 1, "control characters"),
    ];
    for (spec, index, says) in cases {
        match parse_declared(spec) {
            Err(e @ LimitError::GpuSpecEntry { index: at, .. }) => {
                assert_eq!(at, index, "{spec}: {e}");
                assert!(e.to_string().contains(says), "{spec}: {e}");
            }
            other => panic!("{spec}: {other:?}"),
        }
    }
    assert_eq!(
        parse_declared("60xH100;5xT4"),
        Err(LimitError::TooManyGpus { count: 65 })
    );
    assert!(parse_declared("64xH100").is_ok());
}
