//! The mean autocovariance over chains that Geyer's sequence reads, by direct sums for short lags and a radix-2 FFT for the rest.

use super::convergence::mean;

/// Lags below this are summed directly; the first lag at or above it triggers one FFT for all.
///
/// Geyer's truncation usually stops within a few dozen lags, where direct sums (O(m·n) per lag)
/// are cheaper than transforms; slowly mixing chains need many lags, where the FFT's
/// O(m·n log n) for all of them wins.
const DIRECT_LAGS: usize = 32;

/// The mean over chains of the biased autocovariance
/// γ̂_t = (1/n) Σ_{i<n−t} (x_i − x̄)(x_{i+t} − x̄), computed lag by lag as Geyer's sequence asks.
///
/// Equal to `posterior::autocovariance` up to round-off: posterior always uses the FFT and
/// rescales lag 0 to the directly summed variance, which our direct lags are by construction.
/// Zero variance gives all zeros, as in posterior.
pub(super) struct MeanAutocov {
    /// Each chain minus its own mean.
    centred: Vec<Vec<f64>>,
    /// γ̂ averaged over chains, for lags 0..values.len().
    values: Vec<f64>,
}

impl MeanAutocov {
    /// Centres each chain; no lag is computed yet.
    pub(super) fn new(chains: &[Vec<f64>]) -> Self {
        let centred = chains
            .iter()
            .map(|c| {
                let mu = mean(c);
                c.iter().map(|&v| v - mu).collect()
            })
            .collect();
        MeanAutocov {
            centred,
            values: Vec::new(),
        }
    }

    /// The mean autocovariance at lag `t`, computing every lag up to it on first request.
    pub(super) fn at(&mut self, t: usize) -> f64 {
        while self.values.len() <= t {
            let lag = self.values.len();
            if lag < DIRECT_LAGS {
                self.values.push(self.direct(lag));
            } else {
                self.extend_by_fft();
            }
        }
        self.values[t]
    }

    fn direct(&self, lag: usize) -> f64 {
        let m = self.centred.len() as f64;
        self.centred
            .iter()
            .map(|c| {
                let n = c.len();
                c[..n - lag]
                    .iter()
                    .zip(&c[lag..])
                    .map(|(a, b)| a * b)
                    .sum::<f64>()
                    / n as f64
            })
            .sum::<f64>()
            / m
    }

    /// Fills every remaining lag from one zero-padded FFT per chain.
    fn extend_by_fft(&mut self) {
        let n = self.centred[0].len();
        let m = self.centred.len() as f64;
        // Zero-padding to ≥ 2n turns the FFT's circular correlation into the linear one.
        let size = (2 * n).next_power_of_two();
        let twiddles = twiddles(size);
        let mut sums = vec![0.0; n];
        for c in &self.centred {
            let ss: f64 = c.iter().map(|&v| v * v).sum();
            if ss == 0.0 {
                continue;
            }
            let mut re = vec![0.0; size];
            let mut im = vec![0.0; size];
            re[..n].copy_from_slice(c);
            fft(&mut re, &mut im, &twiddles, false);
            for (r, i) in re.iter_mut().zip(im.iter_mut()) {
                *r = *r * *r + *i * *i;
                *i = 0.0;
            }
            fft(&mut re, &mut im, &twiddles, true);
            // As posterior: scale so that lag 0 is exactly the summed Σ(x − x̄)² / n.
            let scale = ss / n as f64 / re[0];
            for (s, r) in sums.iter_mut().zip(&re) {
                *s += r * scale;
            }
        }
        let done = self.values.len();
        self.values.extend(sums[done..].iter().map(|s| s / m));
    }
}

/// e^{−2πik/size} for k < size/2, each from its own sin_cos (no accumulated drift).
fn twiddles(size: usize) -> Vec<(f64, f64)> {
    (0..size / 2)
        .map(|k| {
            let (s, c) = (-2.0 * std::f64::consts::PI * k as f64 / size as f64).sin_cos();
            (c, s)
        })
        .collect()
}

/// In-place iterative radix-2 Cooley–Tukey FFT, unnormalized in both directions; the length
/// must be a power of two and `twiddles` must come from [`twiddles`] for that length.
fn fft(re: &mut [f64], im: &mut [f64], twiddles: &[(f64, f64)], inverse: bool) {
    let n = re.len();
    debug_assert!(n.is_power_of_two() && im.len() == n && twiddles.len() == n / 2);
    if n < 2 {
        return;
    }
    // Bit-reversal permutation.
    let mut j = 0usize;
    for i in 1..n {
        let mut bit = n >> 1;
        while j & bit != 0 {
            j ^= bit;
            bit >>= 1;
        }
        j |= bit;
        if i < j {
            re.swap(i, j);
            im.swap(i, j);
        }
    }
    // The inverse transform uses the conjugate twiddles.
    let sign = if inverse { -1.0 } else { 1.0 };
    let mut len = 2;
    while len <= n {
        let half = len / 2;
        let stride = n / len;
        for start in (0..n).step_by(len) {
            for k in 0..half {
                let (wr, wi) = twiddles[k * stride];
                let wi = sign * wi;
                let a = start + k;
                let b = a + half;
                let vr = re[b] * wr - im[b] * wi;
                let vi = re[b] * wi + im[b] * wr;
                re[b] = re[a] - vr;
                im[b] = im[a] - vi;
                re[a] += vr;
                im[a] += vi;
            }
        }
        len <<= 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Direct O(n²) biased autocovariance, the definition the FFT must reproduce.
    fn autocovariance_direct(x: &[f64]) -> Vec<f64> {
        let n = x.len();
        let mu = mean(x);
        (0..n)
            .map(|t| {
                (0..n - t)
                    .map(|i| (x[i] - mu) * (x[i + t] - mu))
                    .sum::<f64>()
                    / n as f64
            })
            .collect()
    }

    #[test]
    fn lazy_autocovariance_matches_direct_sums_at_every_lag() {
        // Two deterministic, non-periodic chains of awkward length (not a power of two); lags
        // past DIRECT_LAGS come from the FFT.
        let chains: Vec<Vec<f64>> = (0..2)
            .map(|c| {
                (0..777)
                    .map(|i| ((i * i + c) as f64 * 0.37).sin() + 0.01 * i as f64)
                    .collect()
            })
            .collect();
        let direct: Vec<Vec<f64>> = chains.iter().map(|c| autocovariance_direct(c)).collect();
        let mut lazy = MeanAutocov::new(&chains);
        let scale = (direct[0][0] + direct[1][0]) / 2.0;
        // Ask out of order too: a high lag first fills everything below it.
        for t in [0, 1, 31, 32, 500, 2, 776] {
            let expected = (direct[0][t] + direct[1][t]) / 2.0;
            let got = lazy.at(t);
            assert!(
                (got - expected).abs() < 1e-12 * scale,
                "lag {t}: lazy {got} direct {expected}"
            );
        }
    }

    #[test]
    fn fft_round_trip_recovers_input() {
        let mut re: Vec<f64> = (0..16).map(|i| i as f64 * 0.5 - 3.0).collect();
        let orig = re.clone();
        let mut im = vec![0.0; 16];
        let tw = twiddles(16);
        fft(&mut re, &mut im, &tw, false);
        fft(&mut re, &mut im, &tw, true);
        for (a, b) in re.iter().zip(&orig) {
            assert!((a / 16.0 - b).abs() < 1e-13);
        }
    }
}
