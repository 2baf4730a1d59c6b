//! The charts of report.html, drawn by plotters' SVG backend: line charts with axes,
//! ticks, a legend and the phase boundaries marked.

use plotters::prelude::*;

/// One line of a chart.
pub struct Line {
    pub label: String,
    pub points: Vec<(f64, f64)>,
    /// Drawn dashed-looking (thin and grey), as for a target to compare against.
    pub reference: bool,
}

/// A line chart as inline SVG.
pub struct Chart<'a> {
    pub title: &'a str,
    pub x_label: &'a str,
    pub y_label: &'a str,
    pub lines: Vec<Line>,
    /// Vertical markers: (x, name), e.g. where each phase starts.
    pub markers: Vec<(f64, String)>,
    /// How an x value is written on the axis.
    pub x_format: fn(&f64) -> String,
    /// About how many x ticks to label.
    pub x_labels: usize,
}

const WIDTH: u32 = 760;
const HEIGHT: u32 = 340;

impl Chart<'_> {
    /// The chart as an `<svg>` element (an empty string when it has no points).
    pub fn svg(&self) -> String {
        let points = self.lines.iter().flat_map(|l| l.points.iter());
        let (x0, x1, y1) =
            points.fold((f64::MAX, f64::MIN, 0.0f64), |(a, b, c), &(x, y)| (a.min(x), b.max(x), c.max(y)));
        if x0 > x1 {
            return String::new();
        }
        let x1 = if x1 > x0 { x1 } else { x0 + 1.0 };
        let y1 = if y1 > 0.0 { y1 * 1.1 } else { 1.0 };
        let mut svg = String::new();
        // Drawing into a String cannot fail but for a bug; a chart that fails is left out.
        if self.draw(&mut svg, (x0, x1), y1).is_err() {
            return String::new();
        }
        svg
    }

    fn draw(&self, svg: &mut String, (x0, x1): (f64, f64), y1: f64) -> Result<(), Box<dyn std::error::Error + '_>> {
        let root = SVGBackend::with_string(svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(self.title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(x0..x1, 0.0..y1)?;
        chart
            .configure_mesh()
            .x_desc(self.x_label)
            .y_desc(self.y_label)
            .x_label_formatter(&self.x_format)
            .x_labels(self.x_labels)
            .light_line_style(WHITE.mix(0.0))
            .draw()?;
        for (x, name) in &self.markers {
            let grey = BLACK.mix(0.35);
            chart.draw_series(std::iter::once(PathElement::new(vec![(*x, 0.0), (*x, y1)], grey)))?;
            chart.draw_series(std::iter::once(Text::new(name.clone(), (*x, y1 * 0.97), ("sans-serif", 12))))?;
        }
        let mut colors = 0;
        for line in &self.lines {
            let style = if line.reference {
                BLACK.mix(0.45).stroke_width(1)
            } else {
                colors += 1;
                Palette99::pick(colors - 1).stroke_width(2)
            };
            chart
                .draw_series(LineSeries::new(line.points.iter().copied(), style))?
                .label(line.label.as_str())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
        }
        chart.configure_series_labels().background_style(WHITE.mix(0.85)).border_style(BLACK.mix(0.4)).draw()?;
        root.present()?;
        Ok(())
    }
}

/// An x value as a plain number.
pub fn plain(x: &f64) -> String {
    format!("{x}")
}

/// x = log10(1 / (1 - q)) as the percentile q: 1 is p90, 2 is p99, 3 is p99.9.
pub fn percentile(x: &f64) -> String {
    let p = 100.0 - 100.0 / 10f64.powf(*x);
    let text = format!("p{p:.4}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chart_has_axes_legend_and_markers() {
        let chart = Chart {
            title: "Messages sent per second",
            x_label: "seconds since start",
            y_label: "messages/s",
            lines: vec![
                Line {
                    label: "gateway".into(),
                    points: vec![(0.0, 90.0), (1.0, 100.0), (2.0, 100.0)],
                    reference: false,
                },
                Line { label: "target".into(), points: vec![(0.0, 100.0), (2.0, 100.0)], reference: true },
            ],
            markers: vec![(1.0, "faults".into())],
            x_format: plain,
            x_labels: 10,
        };
        let svg = chart.svg();
        assert!(svg.starts_with("<svg") && svg.contains("</svg>"), "{svg}");
        for text in ["Messages sent per second", "seconds since start", "messages/s", "gateway", "target", "faults"] {
            assert!(svg.contains(text), "no `{text}` in the chart");
        }
        let empty = Chart { lines: Vec::new(), markers: Vec::new(), ..chart };
        assert_eq!(empty.svg(), "");
    }

    #[test]
    fn percentiles_read_as_people_write_them() {
        assert_eq!(percentile(&1.0), "p90");
        assert_eq!(percentile(&2.0), "p99");
        assert_eq!(percentile(&3.0), "p99.9");
        assert_eq!(percentile(&0.0), "p0");
    }
}
