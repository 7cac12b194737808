//! GPU shares: the cards a runner has, which share of which card each sandbox holds, and where
//! a new request goes.
//!
//! A card is split in quarters: a request for 0.25, 0.5, 0.75 or 1.0 of one card takes 1 to 4
//! quarters of a single card; a request for `count > 1` cards takes that many whole cards (see
//! [`GpuRequest`]). The [`Ledger`] packs best fit: a share goes to the card with the least free
//! room that still holds it, so a 0.25 and a 0.75 end up on one card and whole cards stay free
//! for whole-card requests.
//!
//! # Declared inventories
//! Where no GPU exists (tests, demos) the inventory is declared in config (`SBX_GPUS`) and read
//! by [`parse_declared`]:
//!
//! ```text
//! spec   = entry *( ("," / ";") entry )
//! entry  = [ count "x" ] model           ; whitespace allowed around "x"; count defaults to 1
//! count  = 1*DIGIT                       ; 1 or more
//! model  = words, e.g. "H100 80GB"       ; its last word, when like "80GB" or "24GiB", is
//!                                        ; the card's memory in GiB
//! ```
//!
//! `"2xH100 80GB"`, `"H100 80GB,A10G 24GB"` and `"2xH100 80GB;1xA10G 24GB"` all parse. The
//! model keeps its memory word (requests name `"H100 80GB"`), runs of whitespace become one
//! space, and cards get the uuids `GPU-declared-0`, `GPU-declared-1`, … in order.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::LimitError;
use crate::sandbox::GpuRequest;

/// Quarters in one card: the unit shares are counted in.
pub const QUARTERS_PER_CARD: u8 = 4;
/// The model a request names to take any card.
pub const ANY_MODEL: &str = "any";
/// Most cards a declared inventory may hold: a typo like `"80xH100"` for `"8xH100"` is caught
/// rather than believed.
pub const MAX_DECLARED_CARDS: usize = 64;
/// Largest memory a declared card may have, in GiB.
const MAX_DECLARED_MEMORY_GIB: f64 = 1024.0;

/// One GPU.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Card {
    /// NVML's uuid (`GPU-…`), or `GPU-declared-N` for a declared card. Unique per runner.
    pub uuid: String,
    /// The model as requests name it: NVML's name, or the declared one ("H100 80GB").
    pub model: String,
    /// Memory of the card, in bytes; 0 when a declared card does not say.
    pub memory_bytes: u64,
    /// Declared in config rather than detected: nothing real backs it.
    pub declared: bool,
}

/// The cards of one runner.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inventory {
    /// The cards, in device order.
    pub cards: Vec<Card>,
}

impl Inventory {
    /// The inventory `spec` declares (see [`parse_declared`]).
    pub fn declared(spec: &str) -> Result<Self, LimitError> {
        Ok(Self {
            cards: parse_declared(spec)?,
        })
    }

    /// No cards at all.
    pub fn is_empty(&self) -> bool {
        self.cards.is_empty()
    }
}

/// The cards `spec` declares, marked `declared`, in the grammar of the module docs.
pub fn parse_declared(spec: &str) -> Result<Vec<Card>, LimitError> {
    if spec.trim().is_empty() {
        return Err(LimitError::GpuSpecEmpty);
    }
    let mut cards = Vec::new();
    for (i, raw) in spec.split([',', ';']).enumerate() {
        let entry = raw.trim();
        let bad = |detail: &str| LimitError::GpuSpecEntry {
            index: i + 1,
            entry: entry.to_owned(),
            detail: detail.to_owned(),
        };
        if entry.is_empty() {
            return Err(bad(
                "empty entry: separate entries with a single ',' or ';', without one at the end",
            ));
        }
        let (count, model) = split_count(entry).map_err(bad)?;
        let model = normalise(model);
        if model.is_empty() {
            return Err(bad("no model after the count (e.g. \"2xH100 80GB\")"));
        }
        if model.chars().any(char::is_control) {
            return Err(bad("the model has control characters"));
        }
        if model.eq_ignore_ascii_case(ANY_MODEL) {
            return Err(bad(
                "\"any\" matches every model in requests: it cannot be one",
            ));
        }
        let memory_bytes = memory_of(&model).map_err(bad)?;
        let total = cards.len().saturating_add(count);
        if total > MAX_DECLARED_CARDS {
            return Err(LimitError::TooManyGpus { count: total });
        }
        for _ in 0..count {
            cards.push(Card {
                uuid: format!("GPU-declared-{}", cards.len()),
                model: model.clone(),
                memory_bytes,
                declared: true,
            });
        }
    }
    Ok(cards)
}

/// The count and the rest of an entry: `"2xH100"` is 2 and `"H100"`; an entry without a count
/// prefix (`"4090 24GB"`) is one card of that model.
fn split_count(entry: &str) -> Result<(usize, &str), &'static str> {
    let digits = entry.len() - entry.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    if digits == 0 {
        return Ok((1, entry));
    }
    let after = entry[digits..].trim_start();
    let Some(model) = after.strip_prefix('x').or_else(|| after.strip_prefix('X')) else {
        return Ok((1, entry));
    };
    let count: usize = entry[..digits]
        .parse()
        .map_err(|_| "the count is too large")?;
    if count == 0 {
        return Err("the count must be 1 or more");
    }
    Ok((count, model))
}

/// A declared model's memory, from its last word when that is like `80GB` or `24GiB` (read as
/// GiB: card makers' "80GB" is binary); 0 when the last word is not a memory size.
fn memory_of(model: &str) -> Result<u64, &'static str> {
    let last = model.rsplit(' ').next().unwrap_or_default();
    let lower = last.to_ascii_lowercase();
    let Some(number) = lower
        .strip_suffix("gib")
        .or_else(|| lower.strip_suffix("gb"))
    else {
        return Ok(0);
    };
    if number.is_empty() || !number.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return Ok(0);
    }
    let gib: f64 = number
        .parse()
        .map_err(|_| "the memory size (last word) is not a number of GB")?;
    if !(gib > 0.0 && gib <= MAX_DECLARED_MEMORY_GIB) {
        return Err("the memory size (last word) must be more than 0 and at most 1024GB");
    }
    Ok((gib * f64::from(1u32 << 30)).round() as u64)
}

/// `s` with runs of whitespace made one space and none at the ends.
fn normalise(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Whether a request for `wanted` may take a card of `model`: `"any"` takes every card;
/// otherwise the names are compared ignoring case and runs of whitespace.
pub fn model_matches(wanted: &str, model: &str) -> bool {
    let wanted = normalise(wanted);
    wanted.eq_ignore_ascii_case(ANY_MODEL) || wanted.eq_ignore_ascii_case(&normalise(model))
}

/// The cards and share of each that one holder was given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Allocation {
    /// The cards, by uuid: one for a share of a card, `count` for whole cards.
    pub card_uuids: Vec<String>,
    /// Quarters held on each of those cards: 1 to 3 for a share, 4 for whole cards.
    pub quarters_per_card: u8,
}

impl Allocation {
    /// Cards' worth held, all cards together: 0.25 for a quarter, 2.0 for two whole cards.
    /// What the meter bills per second.
    pub fn cards_worth(&self) -> f64 {
        self.card_uuids.len() as f64 * f64::from(self.quarters_per_card)
            / f64::from(QUARTERS_PER_CARD)
    }
}

/// What a request takes: `cards` cards with `quarters` quarters on each.
#[derive(Debug, Clone, Copy)]
struct Demand {
    cards: usize,
    quarters: u8,
}

impl Demand {
    /// The demand of `req`, or `None` when `req` fails [`GpuRequest::check`].
    fn of(req: &GpuRequest) -> Option<Self> {
        req.check().ok()?;
        Some(Self {
            cards: usize::try_from(req.count).ok()?,
            quarters: (req.fraction * f64::from(QUARTERS_PER_CARD)).round() as u8,
        })
    }
}

/// A card and the quarters of it in use.
#[derive(Debug, Clone)]
struct Slot {
    card: Card,
    used: u8,
}

impl Slot {
    fn free(&self) -> u8 {
        QUARTERS_PER_CARD - self.used
    }
}

/// Free GPU capacity of one model, as `GET /v1/gpus` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelShares {
    /// The model, as its first card names it.
    pub model: String,
    /// Memory of one card, in bytes (0: unknown).
    pub memory_bytes: u64,
    /// Cards of this model.
    pub cards: u32,
    /// Free quarters over all these cards.
    pub free_quarters: u32,
    /// Cards with nothing in use: what whole-card requests can take.
    pub whole_free_cards: u32,
    /// Most free quarters on any one card: the largest share a request can get.
    pub largest_free_quarters: u8,
    /// The cards are declared in config, not detected.
    pub declared: bool,
}

/// Which holder (sandbox, job) holds which share of which card, and where new requests go.
/// Pure bookkeeping: the runner applies allocations to containers and records them in the store.
#[derive(Debug, Clone, Default)]
pub struct Ledger {
    slots: Vec<Slot>,
    holders: BTreeMap<String, Allocation>,
}

impl Ledger {
    /// A ledger of `inventory` with nothing in use. A card whose uuid repeats an earlier one is
    /// left out: uuids are how allocations name cards.
    pub fn new(inventory: Inventory) -> Self {
        let mut slots: Vec<Slot> = Vec::with_capacity(inventory.cards.len());
        for card in inventory.cards {
            if !slots.iter().any(|s| s.card.uuid == card.uuid) {
                slots.push(Slot { card, used: 0 });
            }
        }
        Self {
            slots,
            holders: BTreeMap::new(),
        }
    }

    /// The cards, in inventory order.
    pub fn cards(&self) -> impl Iterator<Item = &Card> {
        self.slots.iter().map(|s| &s.card)
    }

    /// Quarters in use on the card `uuid`; `None` for a card not in the inventory.
    pub fn used_quarters(&self, uuid: &str) -> Option<u8> {
        self.slots
            .iter()
            .find(|s| s.card.uuid == uuid)
            .map(|s| s.used)
    }

    /// What `holder` holds.
    pub fn allocation(&self, holder: &str) -> Option<&Allocation> {
        self.holders.get(holder)
    }

    /// Whether `req` would be placed now (what a runner asks before claiming a sandbox).
    pub fn fits(&self, req: &GpuRequest) -> bool {
        Demand::of(req).is_some_and(|d| self.pick(&req.r#type, d).is_some())
    }

    /// Give `holder` a place for `req`, best fit (see the module docs). `None` when nothing
    /// fits, when `req` fails [`GpuRequest::check`], or when `holder` already holds an
    /// allocation (release it first: one holder, one allocation).
    ///
    /// Whole cards (`fraction` 1) go to entirely free cards. With `count > 1` they are all of
    /// one model, the model with the fewest free cards that still has enough, so bigger free
    /// groups stay whole for bigger requests.
    pub fn place(&mut self, req: &GpuRequest, holder: &str) -> Option<Allocation> {
        if self.holders.contains_key(holder) {
            return None;
        }
        let demand = Demand::of(req)?;
        let picked = self.pick(&req.r#type, demand)?;
        for &i in &picked {
            self.slots[i].used += demand.quarters;
        }
        let allocation = Allocation {
            card_uuids: picked
                .iter()
                .map(|&i| self.slots[i].card.uuid.clone())
                .collect(),
            quarters_per_card: demand.quarters,
        };
        self.holders.insert(holder.to_owned(), allocation.clone());
        Some(allocation)
    }

    /// Free what `holder` holds, and say what that was.
    pub fn release(&mut self, holder: &str) -> Option<Allocation> {
        let allocation = self.holders.remove(holder)?;
        for uuid in &allocation.card_uuids {
            if let Some(slot) = self.slots.iter_mut().find(|s| &s.card.uuid == uuid) {
                slot.used = slot.used.saturating_sub(allocation.quarters_per_card);
            }
        }
        Some(allocation)
    }

    /// Free capacity per model, models in the order their first card appears; models that
    /// differ only in case or spacing are one model.
    pub fn free_shares(&self) -> Vec<ModelShares> {
        let mut out: Vec<(String, ModelShares)> = Vec::new();
        for slot in &self.slots {
            let key = normalise(&slot.card.model).to_lowercase();
            let i = match out.iter().position(|(k, _)| *k == key) {
                Some(i) => i,
                None => {
                    out.push((
                        key,
                        ModelShares {
                            model: slot.card.model.clone(),
                            memory_bytes: slot.card.memory_bytes,
                            cards: 0,
                            free_quarters: 0,
                            whole_free_cards: 0,
                            largest_free_quarters: 0,
                            declared: false,
                        },
                    ));
                    out.len() - 1
                }
            };
            let shares = &mut out[i].1;
            shares.cards += 1;
            shares.free_quarters += u32::from(slot.free());
            shares.whole_free_cards += u32::from(slot.used == 0);
            shares.largest_free_quarters = shares.largest_free_quarters.max(slot.free());
            shares.declared |= slot.card.declared;
        }
        out.into_iter().map(|(_, shares)| shares).collect()
    }

    /// The slots `demand` would take among the cards matching `model`.
    fn pick(&self, model: &str, demand: Demand) -> Option<Vec<usize>> {
        let matching = self
            .slots
            .iter()
            .enumerate()
            .filter(|(_, s)| model_matches(model, &s.card.model));
        if demand.cards == 1 {
            // Best fit: the least free room that still holds the share; the first such card
            // in inventory order on a tie (`min_by_key` keeps the first minimum).
            return matching
                .filter(|(_, s)| s.free() >= demand.quarters)
                .min_by_key(|(_, s)| s.free())
                .map(|(i, _)| vec![i]);
        }
        // Several whole cards: entirely free ones, grouped by model, in inventory order.
        let mut groups: Vec<(String, Vec<usize>)> = Vec::new();
        for (i, slot) in matching.filter(|(_, s)| s.used == 0) {
            let key = normalise(&slot.card.model).to_lowercase();
            match groups.iter_mut().find(|(k, _)| *k == key) {
                Some((_, group)) => group.push(i),
                None => groups.push((key, vec![i])),
            }
        }
        groups
            .into_iter()
            .filter(|(_, group)| group.len() >= demand.cards)
            .min_by_key(|(_, group)| group.len())
            .map(|(_, mut group)| {
                group.truncate(demand.cards);
                group
            })
    }
}

#[cfg(test)]
mod tests;
