//! The GPUs this runner can hand out, found once at start: the cards NVML lists, or, where
//! there is no GPU (tests, demos), the cards declared in config (`SBX_GPUS`). What is done with
//! them, shares and packing, is [`sbx_limits::gpu`]'s business.

use nvml_wrapper::Nvml;
use nvml_wrapper::error::NvmlError;
use sbx_limits::gpu::{Card, Inventory, parse_declared};

use crate::{Result, RunnerError};

/// The runner's GPU inventory: the cards `declared` names when given (marked `declared`; see
/// [`parse_declared`] for the grammar), else the cards NVML finds.
///
/// A host without the NVIDIA library or driver has no GPUs: an empty inventory, not an error.
/// `Err` means the configuration is wrong (a declared spec that does not parse) or NVML started
/// but could not count the cards; the runner should refuse to start rather than run blind.
pub fn detect(declared: Option<&str>) -> Result<Inventory> {
    if let Some(spec) = declared {
        let cards = parse_declared(spec).map_err(RunnerError::DeclaredGpus)?;
        tracing::info!(
            cards = cards.len(),
            "GPU inventory declared in config: no real GPU backs it"
        );
        return Ok(Inventory { cards });
    }
    let nvml = match Nvml::init() {
        Ok(nvml) => nvml,
        Err(e) if means_no_gpu(&e) => {
            tracing::info!(reason = %e, "no GPUs: NVML is not available on this host");
            return Ok(Inventory::default());
        }
        Err(e) => {
            // A driver is there but NVML will not talk: worth an operator's look, yet no
            // reason to stop CPU work.
            tracing::warn!(error = %e, "no GPUs: NVML could not start");
            return Ok(Inventory::default());
        }
    };
    let count = nvml.device_count().map_err(RunnerError::Nvml)?;
    let mut cards = Vec::with_capacity(count as usize);
    for index in 0..count {
        match read_card(&nvml, index) {
            Ok(card) => cards.push(card),
            // One card fallen off the bus must not keep the others from being used.
            Err(e) => tracing::warn!(index, error = %e, "GPU left out: NVML could not read it"),
        }
    }
    tracing::info!(
        cards = cards.len(),
        models = ?cards.iter().map(|c| c.model.as_str()).collect::<Vec<_>>(),
        "GPU inventory from NVML"
    );
    Ok(Inventory { cards })
}

/// Errors of `Nvml::init()` that mean this host has no usable NVIDIA GPU: the library or a
/// symbol of it is missing, or no driver is loaded.
fn means_no_gpu(e: &NvmlError) -> bool {
    matches!(
        e,
        NvmlError::LibloadingError(_)
            | NvmlError::FailedToLoadSymbol(_)
            | NvmlError::LibraryNotFound
            | NvmlError::DriverNotLoaded
    )
}

fn read_card(nvml: &Nvml, index: u32) -> Result<Card, NvmlError> {
    let device = nvml.device_by_index(index)?;
    Ok(Card {
        uuid: device.uuid()?,
        model: device.name()?,
        memory_bytes: device.memory_info()?.total,
        declared: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detection_without_gpus_is_an_empty_inventory() {
        let inventory = detect(None).expect("detection never fails for want of a GPU");
        assert!(inventory.cards.iter().all(|c| !c.declared));
        if Nvml::init().is_err() {
            assert!(inventory.is_empty(), "{inventory:?}");
        }
    }

    #[test]
    fn declared_gpus_are_the_inventory() {
        let inventory = detect(Some("2xH100 80GB;A10G 24GB")).unwrap();
        let cards: Vec<_> = inventory
            .cards
            .iter()
            .map(|c| (c.uuid.as_str(), c.model.as_str(), c.declared))
            .collect();
        assert_eq!(
            cards,
            [
                ("GPU-declared-0", "H100 80GB", true),
                ("GPU-declared-1", "H100 80GB", true),
                ("GPU-declared-2", "A10G 24GB", true),
            ]
        );
        assert_eq!(inventory.cards[2].memory_bytes, 24 << 30);
    }

    #[test]
    fn a_bad_declared_gpu_spec_is_an_error() {
        for spec in ["", "0xH100", "H100,,T4"] {
            let e = detect(Some(spec)).unwrap_err();
            assert!(matches!(e, RunnerError::DeclaredGpus(_)), "{spec}: {e:?}");
            // What is wrong is the source, as `anyhow` prints it at start-up.
            let why = std::error::Error::source(&e).map(ToString::to_string);
            assert!(why.is_some_and(|w| !w.is_empty()), "{spec}: {e:?}");
        }
    }
}
