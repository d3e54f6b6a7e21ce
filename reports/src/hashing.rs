//! Consistent-hashing charts (plotters, SVG): how many keys each algorithm moves
//! on a membership change against the optimum, and how evenly it spreads them.

use plotters::prelude::*;

/// One bar group: an algorithm, and a value per cluster size.
pub struct Series {
    pub label: String,
    pub values: Vec<f64>,
}

const COLORS: [RGBColor; 4] =
    [RGBColor(31, 119, 180), RGBColor(255, 127, 14), RGBColor(44, 160, 44), RGBColor(148, 103, 189)];

fn draw_err<E: std::fmt::Debug>(e: E) -> String {
    format!("drawing the SVG failed: {e:?}")
}

/// Grouped bars: one group per algorithm, one bar per cluster size (`sizes`), on a
/// log scale, with a line at `reference` (1: the optimum, or a perfect
/// balance).
pub fn grouped_bars(
    title: &str,
    y_label: &str,
    sizes: &[usize],
    series: &[Series],
    reference: f64,
) -> Result<String, String> {
    let mut svg = String::new();
    {
        let width = 160 + 130 * series.len() as u32;
        let root = SVGBackend::with_string(&mut svg, (width.max(700), 420)).into_drawing_area();
        root.fill(&WHITE).map_err(draw_err)?;
        let top = series.iter().flat_map(|s| s.values.iter().copied()).fold(reference, f64::max) * 1.6;
        let bottom = series.iter().flat_map(|s| s.values.iter().copied()).fold(reference, f64::min).max(1e-3) / 1.6;
        let groups = series.len() as f64;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 16))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(0f64..groups, (bottom..top).log_scale())
            .map_err(draw_err)?;
        let labels: Vec<String> = series.iter().map(|s| s.label.clone()).collect();
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(series.len() * 2 + 1)
            .x_label_formatter(&|x| {
                let i = x.floor() as usize;
                if (x - i as f64 - 0.5).abs() < 0.01 {
                    labels.get(i).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .y_desc(y_label)
            .draw()
            .map_err(draw_err)?;
        let bar = 0.8 / sizes.len().max(1) as f64;
        for (si, &n) in sizes.iter().enumerate() {
            let color = COLORS[si % COLORS.len()];
            let bars = series.iter().enumerate().filter_map(|(gi, s)| {
                let v = *s.values.get(si)?;
                let x0 = gi as f64 + 0.1 + bar * si as f64;
                Some(Rectangle::new([(x0, bottom), (x0 + bar * 0.9, v.max(bottom))], color.filled()))
            });
            chart
                .draw_series(bars)
                .map_err(draw_err)?
                .label(format!("n = {n}"))
                .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], color.filled()));
        }
        chart
            .draw_series(std::iter::once(PathElement::new(
                vec![(0.0, reference), (groups, reference)],
                BLACK.stroke_width(1),
            )))
            .map_err(draw_err)?;
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(draw_err)?;
        root.present().map_err(draw_err)?;
    }
    Ok(svg)
}
