/// A price or size grid such as a tick size of 0.01 or a lot size of 0.001.
///
/// Values are snapped by counting whole ticks in integers and dividing by a power of ten
/// last, so `42000.1` comes out as the double closest to 42000.1 and prints as
/// `42000.1`, not `42000.100000000006`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TickGrid {
    /// The tick as an integer number of `1 / scale` units.
    units: i64,
    /// A power of ten.
    scale: f64,
}

impl TickGrid {
    /// A grid for `tick`, which must be positive with at most nine decimals.
    pub fn new(tick: f64) -> Option<TickGrid> {
        if !(tick > 0.0 && tick.is_finite()) {
            return None;
        }
        (0..=9).find_map(|decimals| {
            let scale = 10f64.powi(decimals);
            let units = (tick * scale).round();
            ((tick * scale - units).abs() < 1e-6 * scale.max(1.0) && units >= 1.0)
                .then_some(TickGrid { units: units as i64, scale })
        })
    }

    /// The tick size itself.
    pub fn tick(&self) -> f64 {
        self.units as f64 / self.scale
    }

    /// Nearest grid value.
    pub fn round(&self, value: f64) -> f64 {
        self.snap(value, f64::round)
    }

    /// Largest grid value not above `value`.
    pub fn floor(&self, value: f64) -> f64 {
        self.snap(value, f64::floor)
    }

    /// Smallest grid value not below `value`.
    pub fn ceil(&self, value: f64) -> f64 {
        self.snap(value, f64::ceil)
    }

    fn snap(&self, value: f64, how: fn(f64) -> f64) -> f64 {
        // A hair of slack so that values already on the grid stay put under floor/ceil.
        let ticks = value * self.scale / self.units as f64;
        let nearest = ticks.round();
        let ticks = if (ticks - nearest).abs() < 1e-9 { nearest } else { how(ticks) };
        (ticks as i64 * self.units) as f64 / self.scale
    }
}

#[cfg(test)]
mod tests {
    use super::TickGrid;

    #[test]
    fn snaps_to_clean_decimals() {
        let cent = TickGrid::new(0.01).unwrap();
        assert_eq!(cent.round(42000.1049).to_string(), "42000.1");
        assert_eq!(cent.floor(1.239), 1.23);
        assert_eq!(cent.ceil(1.231), 1.24);
        assert_eq!(cent.ceil(1.23), 1.23);
        let nickel = TickGrid::new(0.05).unwrap();
        assert_eq!(nickel.round(101.07), 101.05);
        assert_eq!(nickel.ceil(101.06).to_string(), "101.1");
        assert_eq!(TickGrid::new(0.00001).unwrap().round(0.123456), 0.12346);
        assert_eq!(TickGrid::new(50.0).unwrap().round(24026.0), 24050.0);
    }

    #[test]
    fn rejects_nonsense() {
        assert!(TickGrid::new(0.0).is_none());
        assert!(TickGrid::new(-1.0).is_none());
        assert!(TickGrid::new(f64::NAN).is_none());
    }
}
