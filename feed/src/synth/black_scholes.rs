//! Black-Scholes prices of European options on a non-dividend-paying underlying.

/// Standard normal cumulative distribution.
fn norm_cdf(x: f64) -> f64 {
    0.5 * libm::erfc(-x / std::f64::consts::SQRT_2)
}

/// Price of a call with spot `s`, strike `k`, years to expiry `t`, continuously
/// compounded rate `r` and volatility `vol`.
pub fn call_price(s: f64, k: f64, t: f64, r: f64, vol: f64) -> f64 {
    let discount = (-r * t).exp();
    if t <= 0.0 || vol <= 0.0 {
        return (s - k * discount).max(0.0);
    }
    let sd = vol * t.sqrt();
    let d1 = ((s / k).ln() + (r + vol * vol / 2.0) * t) / sd;
    let d2 = d1 - sd;
    s * norm_cdf(d1) - k * discount * norm_cdf(d2)
}

/// Price of a put, from the call by put-call parity so the two are consistent to the bit.
pub fn put_price(s: f64, k: f64, t: f64, r: f64, vol: f64) -> f64 {
    (call_price(s, k, t, r, vol) - s + k * (-r * t).exp()).max(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_a_textbook_value() {
        // Hull, Options, Futures and Other Derivatives, example 15.6: S=42, K=40, r=10%,
        // vol=20%, T=0.5 gives c=4.76 and p=0.81.
        assert!((call_price(42.0, 40.0, 0.5, 0.1, 0.2) - 4.76).abs() < 0.005);
        assert!((put_price(42.0, 40.0, 0.5, 0.1, 0.2) - 0.81).abs() < 0.005);
    }

    #[test]
    fn expired_options_are_worth_their_intrinsic_value() {
        assert_eq!(call_price(105.0, 100.0, 0.0, 0.05, 0.2), 5.0);
        assert_eq!(put_price(95.0, 100.0, 0.0, 0.05, 0.2), 5.0);
    }
}
