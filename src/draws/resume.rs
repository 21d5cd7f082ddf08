//! A chain's resume file `chain_<k>.state.json` beside its chain file: the chain's state at its
//! last resume point and what identifies its run, written atomically (a temporary file renamed
//! over the old one), so a killed process leaves either the previous state or the new one.

use crate::engine::ChainState;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// What a run that saves resume points tells its chain sinks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoints {
    /// Fingerprint of the model's source ([`crate::data::text_fingerprint`]).
    pub model_hash: String,
    /// Every chain of the run (0-based ids), including chains not running now.
    pub chain_ids: Vec<usize>,
    /// Chains that continue their existing chain file: appended to, with no header and no
    /// adaptation block written again.
    pub append: Vec<usize>,
}

/// The content of a resume file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StateFile {
    /// The chain file's configuration lines, `chain_id` included.
    pub config: Vec<(String, String)>,
    /// Fingerprint of the model's source.
    pub model_hash: String,
    /// Every chain of the run (1-based, as the files are numbered).
    pub chains: Vec<usize>,
    /// The chain's state.
    pub state: ChainState,
}

/// The resume file of chain `chain` (0-based id) in `dir`.
pub fn state_path(dir: &Path, chain: usize) -> PathBuf {
    dir.join(format!("chain_{}.state.json", chain + 1))
}

/// The resume files in `dir`, by chain number.
pub fn state_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files: Vec<(usize, PathBuf)> = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if let Some(k) = state_number(&entry.file_name().to_string_lossy()) {
            files.push((k, entry.path()));
        }
    }
    files.sort();
    Ok(files.into_iter().map(|(_, p)| p).collect())
}

/// The chain number `k` of a resume file's name `chain_<k>.state.json`.
pub(super) fn state_number(name: &str) -> Option<usize> {
    name.strip_prefix("chain_")?
        .strip_suffix(".state.json")?
        .parse()
        .ok()
}

/// Writes `file` to `path` through a temporary file beside it, renamed over `path`.
pub fn write_state(path: &Path, file: &StateFile) -> std::io::Result<()> {
    let text = serde_json::to_string(file).map_err(std::io::Error::other)?;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}

/// Reads a resume file; `Ok(None)` when there is none.
pub fn read_state(path: &Path) -> Result<Option<StateFile>, String> {
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| format!("{}: not a resume file: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}
