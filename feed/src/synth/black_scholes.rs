//! Black-Scholes prices, sensitivities and implied volatilities of European options on a
//! non-dividend-paying underlying.

/// Standard normal cumulative distribution.
fn norm_cdf(x: f64) -> f64 {
    0.5 * libm::erfc(-x / std::f64::consts::SQRT_2)
}

/// Standard normal density.
fn norm_pdf(x: f64) -> f64 {
    (-x * x / 2.0).exp() / (2.0 * std::f64::consts::PI).sqrt()
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

/// How an option's price moves, in the units exchanges publish (Deribit's): delta and
/// gamma per unit of the underlying, vega per volatility point (0.01), theta per day,
/// rho per rate point (0.01).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Greeks {
    pub delta: f64,
    pub gamma: f64,
    pub vega: f64,
    pub theta: f64,
    pub rho: f64,
}

/// The greeks of a call (`call`) or put with the arguments of [`call_price`]. At or past
/// expiry, or without volatility, only delta is left: 1 (-1 for a put) in the money.
pub fn greeks(s: f64, k: f64, t: f64, r: f64, vol: f64, call: bool) -> Greeks {
    if t <= 0.0 || vol <= 0.0 {
        let in_the_money = if call { s > k } else { s < k };
        let delta = match (in_the_money, call) {
            (false, _) => 0.0,
            (true, true) => 1.0,
            (true, false) => -1.0,
        };
        return Greeks { delta, gamma: 0.0, vega: 0.0, theta: 0.0, rho: 0.0 };
    }
    let sd = vol * t.sqrt();
    let d1 = ((s / k).ln() + (r + vol * vol / 2.0) * t) / sd;
    let d2 = d1 - sd;
    let discounted_strike = k * (-r * t).exp();
    let decay = -s * norm_pdf(d1) * vol / (2.0 * t.sqrt());
    let (delta, theta, rho) = if call {
        (norm_cdf(d1), decay - r * discounted_strike * norm_cdf(d2), t * discounted_strike * norm_cdf(d2))
    } else {
        (norm_cdf(d1) - 1.0, decay + r * discounted_strike * norm_cdf(-d2), -t * discounted_strike * norm_cdf(-d2))
    };
    Greeks {
        delta,
        gamma: norm_pdf(d1) / (s * sd),
        vega: s * norm_pdf(d1) * t.sqrt() / 100.0,
        theta: theta / 365.0,
        rho: rho / 100.0,
    }
}

/// The volatility at which a call (`call`) or put is worth `price`, to 1e-6; None when no
/// volatility up to 500% gives that price (below intrinsic value, say).
pub fn implied_vol(price: f64, s: f64, k: f64, t: f64, r: f64, call: bool) -> Option<f64> {
    let value = |vol: f64| if call { call_price(s, k, t, r, vol) } else { put_price(s, k, t, r, vol) };
    let (mut low, mut high) = (1e-4, 5.0);
    if !(price.is_finite() && t > 0.0 && value(low) <= price && price <= value(high)) {
        return None;
    }
    // The price rises with volatility: halve the bracket until it is narrow enough.
    while high - low > 1e-6 {
        let mid = (low + high) / 2.0;
        if value(mid) < price { low = mid } else { high = mid }
    }
    Some((low + high) / 2.0)
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
    fn greeks_match_a_textbook_example() {
        // Hull, examples 19.1 to 19.7: S=49, K=50, r=5%, vol=20%, T=20 weeks.
        let g = greeks(49.0, 50.0, 0.3846, 0.05, 0.2, true);
        assert!((g.delta - 0.522).abs() < 0.001, "{g:?}");
        assert!((g.gamma - 0.066).abs() < 0.001, "{g:?}");
        assert!((g.vega - 0.121).abs() < 0.001, "{g:?}");
        assert!((g.theta - (-4.31 / 365.0)).abs() < 0.0002, "{g:?}");
        assert!((g.rho - 0.0891).abs() < 0.0005, "{g:?}");
        // A put's delta is the call's less one; gamma and vega are the same.
        let p = greeks(49.0, 50.0, 0.3846, 0.05, 0.2, false);
        assert!((p.delta - (g.delta - 1.0)).abs() < 1e-12 && p.gamma == g.gamma && p.vega == g.vega);
    }

    #[test]
    fn implied_vol_inverts_the_price() {
        for (call, vol) in [(true, 0.55), (false, 0.2), (true, 1.4)] {
            let price = if call {
                call_price(42_000.0, 45_000.0, 0.1, 0.0, vol)
            } else {
                put_price(42_000.0, 45_000.0, 0.1, 0.0, vol)
            };
            let found = implied_vol(price, 42_000.0, 45_000.0, 0.1, 0.0, call).unwrap();
            assert!((found - vol).abs() < 1e-5, "{call} {vol}: {found}");
        }
        // Below intrinsic value no volatility gives the price.
        assert_eq!(implied_vol(1.0, 50_000.0, 45_000.0, 0.1, 0.0, true), None);
    }

    #[test]
    fn expired_options_are_worth_their_intrinsic_value() {
        assert_eq!(call_price(105.0, 100.0, 0.0, 0.05, 0.2), 5.0);
        assert_eq!(put_price(95.0, 100.0, 0.0, 0.05, 0.2), 5.0);
    }
}
