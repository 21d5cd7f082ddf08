//! Numbers crossing to and from Python as native-endian f64 bytes, which the Python half reads
//! with `numpy.frombuffer` and writes with `ndarray.tobytes`.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

/// `values` as the bytes of a float64 array.
pub fn f64_bytes<'py>(py: Python<'py>, values: &[f64]) -> Bound<'py, PyBytes> {
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_ne_bytes()).collect();
    PyBytes::new(py, &bytes)
}

/// The float64 values in `bytes`, which must hold exactly `len` of them.
pub fn f64s(bytes: &[u8], len: usize) -> PyResult<Vec<f64>> {
    if bytes.len() != len * 8 {
        return Err(PyValueError::new_err(format!(
            "expected {len} float64 values ({} bytes), got {} bytes",
            len * 8,
            bytes.len()
        )));
    }
    Ok(bytes
        .chunks_exact(8)
        .map(|c| f64::from_ne_bytes(c.try_into().expect("internal: chunks of 8 bytes")))
        .collect())
}
