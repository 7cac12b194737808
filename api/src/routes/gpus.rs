//! `GET /v1/gpus`: the GPU cards live runners offer, and what is free on them.

use std::collections::BTreeMap;

use actix_web::{HttpResponse, web};
use serde::Serialize;
use utoipa::ToSchema;

use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;

/// Runners heard from within this many seconds count.
const LIVE_S: f64 = 30.0;

/// One card.
#[derive(Debug, Serialize, ToSchema)]
pub struct CardView {
    /// NVML UUID (`GPU-declared-N` for declared cards).
    pub uuid: String,
    /// Model.
    pub model: String,
    /// Memory in bytes (0: unknown).
    pub memory_bytes: u64,
    /// The runner it is on.
    pub runner: uuid::Uuid,
    /// Share in use: 0, 0.25, …, 1.
    pub used: f64,
    /// Share free.
    pub free: f64,
    /// Declared in config (`SBX_GPUS`), not found by NVML: no real GPU backs it.
    pub declared: bool,
}

/// One model.
#[derive(Debug, Serialize, ToSchema)]
pub struct ModelView {
    /// Model.
    pub model: String,
    /// Cards.
    pub cards: u32,
    /// Cards entirely free (for whole-card requests).
    pub whole_free_cards: u32,
    /// The largest share free on one card (for a fraction).
    pub largest_free_share: f64,
    /// Free capacity in cards' worth.
    pub free: f64,
    /// Whether the cards are declared rather than real.
    pub declared: bool,
}

/// GPU availability.
#[derive(Debug, Serialize, ToSchema)]
pub struct GpuList {
    /// Per model.
    pub models: Vec<ModelView>,
    /// Every card.
    pub cards: Vec<CardView>,
}

/// GPU types, cards and free shares across live runners. Shares are quarters of a card,
/// time-shared through NVIDIA MPS, not hardware-isolated.
#[utoipa::path(get, path = "/v1/gpus", tag = "sandboxes", security(("api_key" = [])),
    responses(
        (status = 200, description = "Cards and free shares", body = GpuList),
        crate::responses::Unauthorized,
    ))]
pub async fn list_gpus(
    state: web::Data<AppState>,
    _caller: Caller,
) -> Result<HttpResponse, ApiError> {
    let mut cards = Vec::new();
    for (runner, inventory, allocations) in
        sbx_store::runners::gpu_books(&state.pool, LIVE_S).await?
    {
        let mut used: BTreeMap<String, u64> = BTreeMap::new();
        for a in &allocations {
            let quarters = a["quarters"].as_u64().unwrap_or(0);
            for uuid in a["cards"].as_array().into_iter().flatten() {
                *used
                    .entry(uuid.as_str().unwrap_or_default().to_owned())
                    .or_default() += quarters;
            }
        }
        for c in inventory.as_array().into_iter().flatten() {
            let uuid = c["uuid"].as_str().unwrap_or_default().to_owned();
            let q = used.get(&uuid).copied().unwrap_or(0).min(4) as f64 / 4.0;
            cards.push(CardView {
                model: c["model"].as_str().unwrap_or_default().to_owned(),
                memory_bytes: c["memory_bytes"].as_u64().unwrap_or(0),
                declared: c["declared"].as_bool().unwrap_or(false),
                runner,
                used: q,
                free: 1.0 - q,
                uuid,
            });
        }
    }
    let mut models: Vec<ModelView> = Vec::new();
    for c in &cards {
        let i = match models
            .iter()
            .position(|m| m.model.eq_ignore_ascii_case(&c.model))
        {
            Some(i) => i,
            None => {
                models.push(ModelView {
                    model: c.model.clone(),
                    cards: 0,
                    whole_free_cards: 0,
                    largest_free_share: 0.0,
                    free: 0.0,
                    declared: c.declared,
                });
                models.len() - 1
            }
        };
        let m = &mut models[i];
        m.cards += 1;
        m.free += c.free;
        m.largest_free_share = m.largest_free_share.max(c.free);
        if c.used == 0.0 {
            m.whole_free_cards += 1;
        }
    }
    Ok(HttpResponse::Ok().json(GpuList { models, cards }))
}
