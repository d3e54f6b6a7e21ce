//! The output chart of a stream job (`output.svg`): when each record of each source
//! partition appeared in the store's output. A job that is exactly-once draws one
//! rising line per partition; a record shown again is a red cross below its line,
//! and a record shown after a hole is a red ring, with the hole's size. Crashes
//! are shaded, with the node that was down.

use faultline_sim::time::fmt_time;
use plotters::prelude::*;

use crate::timeline::{draw_err, text_style as style};
use crate::trace::{Trace, Window};

const COLORS: [RGBColor; 4] =
    [RGBColor(31, 119, 180), RGBColor(255, 127, 14), RGBColor(44, 160, 44), RGBColor(148, 103, 189)];
const RED: RGBColor = RGBColor(214, 39, 40);

/// Whether the trace has a stream job's output to chart.
pub fn has_output(trace: &Trace) -> bool {
    !trace.outputs.is_empty()
}

/// Draws the output chart of `trace` within `window`, titled `title`.
pub fn output_chart(title: &str, trace: &Trace, window: &Window) -> Result<String, String> {
    let from = window.from;
    let to = window.to.unwrap_or(trace.end).max(from + 1);
    // A little room after the last event, where a run that failed stopped.
    let to = to.saturating_add((to - from) / 40);
    let secs = |t: u64| t as f64 / 1e9;
    let top = trace.outputs.iter().map(|o| o.3).max().unwrap_or(1) as f64 * 1.08;
    let mut partitions: Vec<u64> = trace.outputs.iter().map(|o| o.1).collect();
    partitions.sort_unstable();
    partitions.dedup();
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (1000, 460)).into_drawing_area();
        root.fill(&WHITE).map_err(draw_err)?;
        root.draw(&Text::new(title.to_string(), (80, 10), style(16, BLACK))).map_err(draw_err)?;
        let mut chart = ChartBuilder::on(&root)
            .margin(14)
            .margin_top(50)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(secs(from)..secs(to), 0f64..top)
            .map_err(draw_err)?;
        chart
            .configure_mesh()
            .x_desc("virtual time (s)")
            .y_desc("record number in its partition")
            .y_label_formatter(&|v| format!("{v:.0}"))
            .light_line_style(RGBColor(240, 240, 240))
            .draw()
            .map_err(draw_err)?;
        for &(node, down, up, crash) in &trace.outages {
            if !crash {
                continue;
            }
            let (a, b) = (down.max(from), up.unwrap_or(to).min(to));
            if a >= b {
                continue;
            }
            let band = Rectangle::new([(secs(a), 0.0), (secs(b), top)], RGBColor(250, 215, 215).filled());
            chart.draw_series([band]).map_err(draw_err)?;
            let label = Text::new(format!("n{} down", node + 1), (secs(a), top * 0.97), style(12, RED));
            chart.draw_series([label]).map_err(draw_err)?;
        }
        for (i, &p) in partitions.iter().enumerate() {
            let color = COLORS[i % COLORS.len()];
            let (mut next, mut reported) = (1, 0);
            let (mut line, mut again, mut holes) = (Vec::new(), Vec::new(), Vec::new());
            for &(t, _, position, seq) in trace.outputs.iter().filter(|o| o.1 == p) {
                if position < reported {
                    continue; // a position shown again after the store restarted
                }
                reported = position.saturating_add(1);
                let at = (secs(t), seq as f64);
                if seq < next {
                    again.push(at);
                    continue;
                }
                if seq > next {
                    holes.push((at, seq - next));
                }
                // A staircase: the output holds its last record until the next appears.
                if let Some(&(_, last)) = line.last() {
                    line.push((at.0, last));
                }
                line.push(at);
                next = seq.saturating_add(1);
            }
            chart
                .draw_series([PathElement::new(line, color.stroke_width(2))])
                .map_err(draw_err)?
                .label(format!("p{p}"))
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2)));
            chart.draw_series(again.iter().map(|&at| Cross::new(at, 5, RED.stroke_width(2)))).map_err(draw_err)?;
            for (at, lost) in holes {
                chart.draw_series([Circle::new(at, 6, RED.stroke_width(2))]).map_err(draw_err)?;
                let left = at.0 - (secs(to) - secs(from)) * 0.07;
                let text = Text::new(format!("{lost} lost"), (left, at.1 + top * 0.05), style(12, RED));
                chart.draw_series([text]).map_err(draw_err)?;
            }
        }
        if let Some((t, what)) = &trace.violation
            && (from..=to).contains(t)
        {
            let line = PathElement::new(vec![(secs(*t), 0.0), (secs(*t), top)], RED.stroke_width(1));
            chart.draw_series([line]).map_err(draw_err)?;
            let short: String = what.chars().take(150).collect();
            root.draw(&Text::new(format!("{}: {short}", fmt_time(*t)), (80, 32), style(12, RED))).map_err(draw_err)?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.9))
            .border_style(RGBColor(200, 200, 200))
            .draw()
            .map_err(draw_err)?;
        root.present().map_err(draw_err)?;
    }
    Ok(svg)
}
