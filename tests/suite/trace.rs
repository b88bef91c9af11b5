//! The per-pixel trace is a second, scalar implementation of the physics: its final value must
//! equal the tensor renderer's image, pixel for pixel, in many configurations; so must the
//! fused CPU kernel that renders forward images by default.

use crate::common::*;
use nanobragg::experiment::build;
use nanobragg::model::geometry::Geometry;
use nanobragg::engine::render::{Engine, Renderer};
use std::path::Path;

/// A 40 x 32 detector close enough to show several spots of a 70-90 A cell.
const BASE: &str = "-cell 70 80 90 75 85 95 -misset 10 20 30 -lambda 1 -distance 50 -pixel 0.2 -detpixels_x 40 -detpixels_y 32 -oversample 1";

/// Write a synthetic HKL file with h, k, l in -12..12 and smoothly varying F.
fn hkl_file(dir: &Path) -> String {
    let p = dir.join("synthetic.hkl");
    let mut text = String::new();
    for h in -12..=12i32 {
        for k in -12..=12i32 {
            for l in -12..=12i32 {
                let f = 50.0 + 30.0 * ((h * 3 + k * 5 + l * 7) as f64 * 0.37).sin() + (h * h + k - l) as f64 * 0.1;
                text += &format!("{h} {k} {l} {f:.3}\n");
            }
        }
    }
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

/// Render with the tensor renderer and compare every pixel with the scalar trace.
fn check(args: &str) {
    let (exp, _) = build(&crate::common::options(args)).unwrap_or_else(|e| panic!("{args}: {e}"));
    let dev = nanobragg::engine::device::Target::cpu(nanobragg::engine::device::Precision::F64);
    let renderer = Renderer::new(&exp, &dev).with_engine(Engine::Tensor).unwrap();
    let params = Geometry::from_experiment(&exp, &dev);
    let image = renderer.render_image(&params, |_, _| {});
    // the fused CPU kernel (default for forward renders) gives the tensor path's image
    // (to rounding: it evaluates sin(N x)/sin(x) by a Chebyshev recurrence)
    let fused = Renderer::new(&exp, &dev).with_threads(2).render_image(&params, |_, _| {});
    let top = image.iter().cloned().fold(0.0f64, f64::max);
    for (i, (a, b)) in image.iter().zip(&fused).enumerate() {
        assert!((a - b).abs() <= 1e-10 * a.abs().max(b.abs()) + 1e-13 * top, "{args}: pixel {i}: tensor {a:e} vs fused {b:e}");
    }
    let max = image.iter().cloned().fold(0.0f64, f64::max);
    assert!(max > 0.0, "{args}: blank image");
    let fp = exp.detector.fpixels;
    let (mut worst, mut checked) = (0.0f64, 0);
    for (idx, &want) in image.iter().enumerate() {
        let got = nanobragg::engine::trace::pixel_value(&exp, idx % fp, idx / fp);
        assert!(got.is_finite() && want.is_finite(), "{args}: pixel {idx} not finite ({got} / {want})");
        let diff = (got - want).abs();
        if want.abs() > 1e-7 * max {
            let rel = diff / want.abs();
            worst = worst.max(rel);
            assert!(rel <= 1e-9, "{args}: pixel ({}, {}): trace {got:e} vs image {want:e} (relative {rel:e})", idx % fp, idx / fp);
            checked += 1;
        } else {
            assert!(diff <= 1e-12 * max, "{args}: faint pixel ({}, {}): trace {got:e} vs image {want:e}", idx % fp, idx / fp);
        }
    }
    assert!(checked >= 10, "{args}: only {checked} bright pixels");
    eprintln!("trace == image: worst relative {worst:.2e} over {checked} pixels: {args}");
}

#[test]
fn trace_equals_the_rendered_image() {
    let dir = scratch("trace");
    let hkl = hkl_file(&dir);
    let sources = dir.join("sources.txt");
    std::fs::write(&sources, "-10 0 0 3 1e-10\n-10 0.002 0.001 1 1.02e-10\n-10 -0.001 0 0.5 0.99e-10\n").unwrap();
    let sources = sources.display();
    let cases = [
        format!("{BASE} -default_F 100 -N 5"),
        format!("{BASE} -default_F 100 -N 5 -mosaic 0.5 -mosaic_domains 3 -phi 1 -osc 2 -phisteps 3"),
        format!("{BASE} -default_F 100 -N 5 -divergence 0.5 -divsteps 3 -dispersion 2 -dispsteps 3"),
        format!("{BASE} -N 5 -hkl {hkl} -nointerpolate"),
        format!("{BASE} -N 2 -hkl {hkl} -interpolate"),
        format!("{BASE} -N 2 -hkl {hkl} -default_F 7"),
        format!("{BASE} -default_F 100 -N 5 -round_xtal"),
        format!("{BASE} -default_F 100 -N 5 -gauss_xtal -fudge 1.3"),
        format!("{BASE} -default_F 100 -N 5 -tophat_spots"),
        format!("{BASE} -default_F 100 -N 5 -detector_abs 300 -detector_thick 100 -detector_thicksteps 3"),
        format!("{BASE} -default_F 100 -N 5 -detector_abs 300 -detector_thick 100 -detector_thicksteps 3 -oversample_thick -twotheta 10"),
        format!("{BASE} -default_F 100 -N 5 -oversample 2"),
        format!("{BASE} -default_F 100 -N 5 -oversample 2 -oversample_omega -oversample_polar -polar 0.5"),
        format!("{BASE} -default_F 100 -N 5 -water 0.01"),
        format!("{BASE} -default_F 100 -N 5 -curved_det"),
        format!("{BASE} -default_F 100 -N 5 -polar 0.9"),
        format!("{BASE} -default_F 100 -N 5 -nopolar -point_pixel"),
        format!("{BASE} -default_F 100 -N 5 -dmin 15 -divergence 0.3 -divsteps 2"),
        format!("{BASE} -default_F 100 -N 5 -roi 5 30 4 20 -detector_rotx 3 -detector_rotz 2"),
        format!("{BASE} -default_F 100 -N 5 -xds -spindle_axis 0 1 0 -phi 3"),
        format!("{BASE} -default_F 100 -N 5 -sourcefile {sources} -source_weights"),
    ];
    for args in &cases {
        check(args);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn printout_pixel_prints_the_trace_and_the_image_value() {
    let dir = scratch("printout");
    let args = format!("{BASE} -default_F 100 -N 5 -mosaic 0.3 -mosaic_domains 2 -printout_pixel 25 9 -trace_pixel 3 4 -floatfile img.bin -noprogress");
    let out = run_in(&dir, &args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    let img = read_f32(&dir.join("img.bin"));
    let values: Vec<f64> = text
        .lines()
        .filter_map(|l| l.strip_prefix("TRACE pixel value"))
        .map(|v| v.trim().parse().unwrap())
        .collect();
    assert_eq!(values.len(), 2, "{text}");
    for (v, (f, s)) in values.iter().zip([(25usize, 9usize), (4, 3)]) {
        let want = img[s * 40 + f] as f64;
        assert!((v - want).abs() <= 1e-6 * want.abs(), "pixel ({f},{s}): {v} vs {want}");
    }
    for key in ["position", "airpath", "diffracted", "omega", "capture fraction", "stol", "hkl0", "F_cell", "F_latt", "polar", "steps"] {
        assert!(text.contains(key), "trace lacks {key}");
    }
    // -printout alone: one line per rendered pixel
    let out = run_in(&dir, &format!("{BASE} -default_F 100 -N 5 -roi 0 9 0 4 -printout -floatfile img.bin -noprogress"));
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let lines = text.lines().filter(|l| l.contains(" : ") && l.trim_start().chars().next().is_some_and(|c| c.is_ascii_digit())).count();
    assert_eq!(lines, 50, "{text}");
    assert!(!text.contains("TRACE"));
    let _ = std::fs::remove_dir_all(&dir);
}
