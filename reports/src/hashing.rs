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

use crate::timeline::{draw_err, text_style as style};

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

/// One view for [`migration_chart`]: its title, keys owned per node (`None`: not a
/// member), and the keys that moved into it, `(from, to, count)` by node index.
pub struct View {
    pub title: String,
    pub owned: Vec<Option<usize>>,
    pub flows: Vec<(usize, usize, usize)>,
}

/// Keys held per node before and after each membership change, with an arrow per
/// flow of moved keys between consecutive views, labelled with its count.
pub fn migration_chart(title: &str, views: &[View]) -> Result<String, String> {
    let nodes = views.iter().map(|v| v.owned.len()).max().unwrap_or(0);
    let (left, top, lane, col) = (60i32, 60i32, 56i32, 190i32);
    let width = (left + col * views.len() as i32 + 40).max(500) as u32;
    let height = (top + lane * nodes as i32 + 30) as u32;
    let most = views.iter().flat_map(|v| v.owned.iter().flatten()).copied().max().unwrap_or(1).max(1);
    let bar_max = 90.0;
    let y = |n: usize| top + lane * n as i32 + lane / 2;
    let x = |v: usize| left + col * v as i32 + 20;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (width, height)).into_drawing_area();
        root.fill(&WHITE).map_err(draw_err)?;
        root.draw(&Text::new(title.to_string(), (left, 12), style(15, BLACK))).map_err(draw_err)?;
        for n in 0..nodes {
            root.draw(&Text::new(format!("n{}", n + 1), (12, y(n) - 7), style(14, BLACK))).map_err(draw_err)?;
            root.draw(&PathElement::new(vec![(left, y(n)), (width as i32 - 20, y(n))], RGBColor(225, 225, 225)))
                .map_err(draw_err)?;
        }
        for (v, view) in views.iter().enumerate() {
            root.draw(&Text::new(view.title.clone(), (x(v), top - 22), style(12, BLACK))).map_err(draw_err)?;
            for (from, to, count) in &view.flows {
                let (x0, x1) = (x(v - 1) + bar_max as i32 + 30, x(v));
                let w = 1 + (*count as f64).log2().max(0.0) as u32;
                root.draw(&PathElement::new(vec![(x0, y(*from)), (x1, y(*to))], COLORS[1].stroke_width(w)))
                    .map_err(draw_err)?;
                root.draw(&Circle::new((x1, y(*to)), 3, COLORS[1].filled())).map_err(draw_err)?;
                let (mx, my) = ((x0 + x1) / 2, (y(*from) + y(*to)) / 2);
                root.draw(&Text::new(count.to_string(), (mx + 3, my - 12), style(11, COLORS[1]))).map_err(draw_err)?;
            }
            for (n, owned) in view.owned.iter().enumerate() {
                match owned {
                    Some(k) => {
                        let w = (bar_max * *k as f64 / most as f64).round().max(1.0) as i32;
                        root.draw(&Rectangle::new([(x(v), y(n) - 9), (x(v) + w, y(n) + 9)], COLORS[0].filled()))
                            .map_err(draw_err)?;
                        root.draw(&Text::new(k.to_string(), (x(v) + w + 4, y(n) - 6), style(11, BLACK)))
                            .map_err(draw_err)?;
                    }
                    None => {
                        let grey = RGBColor(150, 150, 150);
                        root.draw(&Text::new("not a member", (x(v), y(n) - 6), style(10, grey))).map_err(draw_err)?;
                    }
                }
            }
        }
        root.present().map_err(draw_err)?;
    }
    Ok(svg)
}
