//! Physical invariants that hold whatever the reference says: exact values where the
//! mathematics gives them, scaling laws, normalisation and Bragg's law.

use crate::common::*;
use nanobragg::experiment::{build, R_E_SQR};
use nanobragg::physics::vec3;

/// 64x64 detector, 0.1 mm pixels, direct beam exactly on the centre of pixel (32, 32).
const CENTRED: &str = "-cell 100 100 100 90 90 90 -lambda 1 -distance 100 -pixel 0.1 -detpixels 64 -Xbeam 3.2 -Ybeam 3.2 -oversample 1";

#[test]
fn direct_beam_pixel_has_the_exact_n6_f2_value() {
    // at the direct beam h = k = l = 0, so F_latt = Na Nb Nc, polarization = 1 and
    // omega = pixel^2 / distance^2: the pixel is r_e^2 fluence F^2 N^6 omega exactly
    for (n, f) in [(3.0f64, 10.0f64), (5.0, 10.0), (5.0, 20.0)] {
        let img = render(&format!("{CENTRED} -N {n} -default_F {f}"));
        let got = img[32 * 64 + 32] as f64;
        let want = R_E_SQR * nanobragg::experiment::DEFAULT_FLUENCE * f * f * n.powi(6) * (1e-4f64 * 1e-4 / (0.1 * 0.1));
        assert!(((got - want) / want).abs() < 1e-6, "N={n} F={f}: {got} vs {want}");
    }
}

#[test]
fn intensity_scales_as_f_squared_everywhere() {
    let a = render(&format!("{CENTRED} -N 4 -default_F 10 -misset 3 7 11"));
    let b = render(&format!("{CENTRED} -N 4 -default_F 30 -misset 3 7 11"));
    let mut checked = 0;
    for (x, y) in a.iter().zip(&b) {
        if *x > 1e-6 {
            assert!(((*y / *x) as f64 - 9.0).abs() < 1e-4, "{x} {y}");
            checked += 1;
        }
    }
    assert!(checked > 100);
}

#[test]
fn peaks_sit_on_reciprocal_lattice_points() {
    // every local maximum of a simple-cubic still image lies where h, k and l are all close to
    // integers (Bragg's law in vector form: S = h a* + k b* + l c*)
    let args = "-cell 40 40 40 90 90 90 -N 8 -default_F 10 -lambda 1 -distance 80 -pixel 0.1 -detpixels 128 -misset 4 9 13 -oversample 1";
    let img = render(args);
    let (exp, _) = build(&crate::common::options(args)).unwrap();
    let d = &exp.detector;
    let max = img.iter().cloned().fold(0.0f32, f32::max);
    let mut peaks = 0;
    for s in 1..127usize {
        for f in 1..127usize {
            let v = img[s * 128 + f];
            if v < 0.05 * max {
                continue;
            }
            let neighbours = [(s - 1, f), (s + 1, f), (s, f - 1), (s, f + 1)];
            if neighbours.iter().any(|&(ss, ff)| img[ss * 128 + ff] > v) {
                continue;
            }
            let pos = vec3::add(
                vec3::add(vec3::scale(d.fdet, (f as f64 + 0.5) * d.pixel_size), vec3::scale(d.sdet, (s as f64 + 0.5) * d.pixel_size)),
                d.pix0,
            );
            let dir = vec3::unitize(pos).0;
            let svec = vec3::scale(vec3::sub(dir, d.beam_vector), 1.0 / exp.beam.lambda0);
            for cell in [exp.crystal.a, exp.crystal.b, exp.crystal.c] {
                let h = vec3::dot(svec, cell);
                assert!((h - h.round()).abs() < 0.2, "peak at ({f},{s}) has index {h}");
            }
            peaks += 1;
        }
    }
    assert!(peaks >= 5, "only {peaks} peaks found");
}

#[test]
fn identical_sources_phi_steps_and_domains_normalise_away() {
    let dir = scratch("norm");
    let one = dir.join("one.txt");
    let three = dir.join("three.txt");
    std::fs::write(&one, "-10 0 0 1 1e-10\n").unwrap();
    // three copies of the same source, one with zero weight: every source counts in steps
    std::fs::write(&three, "-10 0 0 1 1e-10\n-10 0 0 0 1e-10\n-10 0 0 2 1e-10\n").unwrap();
    let base = "-cell 70 80 90 75 85 95 -misset 10 20 30 -N 5 -default_F 100 -lambda 1 -distance 100 -pixel 0.1 -detpixels 48 -oversample 1";
    let a = render(&format!("{base} -sourcefile {}", one.display()));
    let b = render(&format!("{base} -sourcefile {}", three.display()));
    // three phi steps of zero width at the same angle
    let c = render(&format!("{base} -phi 1 -osc 0 -phisteps 1"));
    let d = render(&format!("{base} -phi 1 -phistep 0 -osc 0 -phisteps 3"));
    for i in 0..a.len() {
        assert!((a[i] - b[i]).abs() <= 1e-6 * a[i].abs().max(1e-30), "pixel {i}: {} vs {}", a[i], b[i]);
        assert!((c[i] - d[i]).abs() <= 1e-6 * c[i].abs().max(1e-30), "pixel {i}: {} vs {}", c[i], d[i]);
    }
    // the steps count itself
    let (exp, _) = build(&crate::common::options(&format!("{base} -sourcefile {} -mosaic 0.3 -mosaic_domains 4 -phi 1 -osc 2 -phisteps 5 -oversample 2", three.display()))).unwrap();
    assert_eq!(exp.sampling.steps, 3 * 4 * 5 * 4);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn source_file_warnings_are_raised() {
    let dir = scratch("warn");
    let weighted = dir.join("w.txt");
    std::fs::write(&weighted, "-10 0 0 1.0 1e-10\n-10 0.02 0 0.2 1e-10\n").unwrap();
    let base = "-cell 70 80 90 75 85 95 -N 5 -default_F 100 -detpixels 16";
    let (_, notes) = build(&crate::common::options(&format!("{base} -sourcefile {}", weighted.display()))).unwrap();
    assert!(notes.warnings.iter().any(|w| w.contains("non-uniform source weights") && w.contains("-source_weights")), "{:?}", notes.warnings);
    let (_, notes) = build(&crate::common::options(&format!("{base} -sourcefile {} -divergence 0.3 -dispersion 1", weighted.display()))).unwrap();
    assert!(notes.warnings.iter().any(|w| w.contains("divergence and dispersion flags are ignored")), "{:?}", notes.warnings);
    // uniform weights: no weight warning; opt-in weights: no warning either
    let uniform = dir.join("u.txt");
    std::fs::write(&uniform, "-10 0 0 1\n-10 0.01 0 1\n").unwrap();
    let (_, notes) = build(&crate::common::options(&format!("{base} -sourcefile {}", uniform.display()))).unwrap();
    assert!(!notes.warnings.iter().any(|w| w.contains("weights")));
    let (_, notes) = build(&crate::common::options(&format!("{base} -sourcefile {} -source_weights", weighted.display()))).unwrap();
    assert!(!notes.warnings.iter().any(|w| w.contains("non-uniform")));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn source_weights_opt_in_scales_each_source() {
    let dir = scratch("weights");
    // two sources with different wavelengths; weights 3 and 1 -> factors 1.5 and 0.5
    let w = dir.join("w.txt");
    std::fs::write(&w, "-10 0 0 3 1e-10\n-10 0 0 1 1.1e-10\n").unwrap();
    let s1 = dir.join("s1.txt");
    std::fs::write(&s1, "-10 0 0 1 1e-10\n").unwrap();
    let s2 = dir.join("s2.txt");
    std::fs::write(&s2, "-10 0 0 1 1.1e-10\n").unwrap();
    let base = "-cell 70 80 90 75 85 95 -misset 10 20 30 -N 5 -default_F 100 -distance 100 -pixel 0.1 -detpixels 32 -oversample 1";
    let weighted = render(&format!("{base} -sourcefile {} -source_weights", w.display()));
    let a = render(&format!("{base} -sourcefile {}", s1.display()));
    let b = render(&format!("{base} -sourcefile {}", s2.display()));
    for i in 0..a.len() {
        // each single-source image is normalised by 1 step; the pair by 2
        let want = (1.5 * a[i] as f64 + 0.5 * b[i] as f64) / 2.0;
        assert!((weighted[i] as f64 - want).abs() <= 1e-6 * want.abs().max(1e-30), "pixel {i}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_spectrum_is_weighted_sources_along_the_beam() {
    use nanobragg::physics::constants::HC_EV_ANGSTROM;
    let dir = scratch("spectrum");
    let spectrum = dir.join("s.txt");
    std::fs::write(&spectrum, "# photon energy (eV), weight\n9000 3\n9150, 1\n9300 0\n").unwrap();
    let one = dir.join("one.txt");
    std::fs::write(&one, "# keV\n9.0 1\n").unwrap();
    let sources = dir.join("sources.txt");
    let lambda = |ev: f64| HC_EV_ANGSTROM / ev * 1e-10;
    std::fs::write(&sources, format!("-10 0 0 3 {:e}\n-10 0 0 1 {:e}\n", lambda(9000.0), lambda(9150.0))).unwrap();
    let base = "-cell 70 80 90 75 85 95 -misset 10 20 30 -N 5 -default_F 100 -distance 100 -pixel 0.1 -detpixels 32 -oversample 1";
    let with_spectrum = render(&format!("{base} -spectrum {}", spectrum.display()));
    let with_sources = render(&format!("{base} -sourcefile {} -source_weights", sources.display()));
    let single = render(&format!("{base} -spectrum {}", one.display()));
    let energy = render(&format!("{base} -energy 9000"));
    let close = |a: f32, b: f32| (a - b).abs() <= 1e-6 * a.abs().max(b.abs()).max(1e-30);
    assert!(with_spectrum.iter().any(|&v| v > 0.0));
    for i in 0..with_spectrum.len() {
        assert!(close(with_spectrum[i], with_sources[i]), "pixel {i}: {} vs {}", with_spectrum[i], with_sources[i]);
        assert!(close(single[i], energy[i]), "pixel {i}: {} vs {}", single[i], energy[i]);
    }
    // the zero-weight line is dropped: two sources, two steps, the mean wavelength nominal
    let (exp, _) = build(&crate::common::options(&format!("{base} -spectrum {}", spectrum.display()))).unwrap();
    assert_eq!(exp.beam.sources.len(), 2);
    assert_eq!(exp.sampling.steps, 2);
    assert!((exp.beam.lambda0 - (3.0 * lambda(9000.0) + lambda(9150.0)) / 4.0).abs() < 1e-22);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn chunk_size_does_not_change_the_image() {
    let base = "-cell 70 80 90 75 85 95 -misset 10 20 30 -N 5 -default_F 100 -distance 100 -pixel 0.1 -detpixels 40 -oversample 2 -mosaic 0.5 -mosaic_domains 3 -phi 2 -osc 1 -phisteps 2 -divergence 0.2 -divsteps 2";
    let a = render(base);
    let b = render(&format!("{base} -chunk_elements 7"));
    assert_eq!(a.len(), b.len());
    for i in 0..a.len() {
        assert!((a[i] - b[i]).abs() <= 1e-6 * a[i].abs().max(1e-30));
    }
}

#[test]
fn oversample_flags_weight_each_subpixel_term() {
    // with a single unit cell the lattice factor is 1, so the per-sub-pixel corrections average
    // over the pixel: the result sits between the extreme sub-pixel values and differs from the
    // first-sub-pixel ("last value") result only slightly
    let base = "-cell 100 100 100 90 90 90 -N 1 -default_F 10 -lambda 1 -distance 20 -pixel 0.5 -detpixels 16 -oversample 3";
    let plain = render(base);
    let flagged = render(&format!("{base} -oversample_omega -oversample_polar"));
    for i in 0..plain.len() {
        let r = flagged[i] / plain[i];
        assert!(r > 0.9 && r < 1.1 && r != 1.0, "pixel {i}: ratio {r}");
    }
}

#[test]
fn oversample_omega_averages_the_solid_angle_over_subpixels() {
    // N = 1 (lattice factor 1), no polarization, point pixels: each sub-pixel term is
    // r_e^2 fluence F^2 / R^2 and the pixel is their mean, exactly
    let args = "-cell 100 100 100 90 90 90 -N 1 -default_F 10 -lambda 1 -distance 30 -pixel 0.4 -detpixels 12 -oversample 3 -nopolar -point_pixel -oversample_omega";
    let img = render(args);
    let (exp, _) = build(&crate::common::options(args)).unwrap();
    let d = &exp.detector;
    let os = 3usize;
    let sub = d.pixel_size / os as f64;
    for (s, f) in [(0usize, 0usize), (5, 7), (11, 3)] {
        let mut sum = 0.0;
        for ss in 0..os {
            for ff in 0..os {
                let fd = sub * ((f * os + ff) as f64 + 0.5);
                let sd = sub * ((s * os + ss) as f64 + 0.5);
                let pos = vec3::add(vec3::add(vec3::scale(d.fdet, fd), vec3::scale(d.sdet, sd)), d.pix0);
                sum += 1.0 / vec3::dot(pos, pos);
            }
        }
        let want = R_E_SQR * exp.beam.fluence * 100.0 * sum / (os * os) as f64;
        let got = img[s * 12 + f] as f64;
        assert!(((got - want) / want).abs() < 1e-6, "pixel ({f},{s}): {got} vs {want}");
    }
}

#[test]
fn phi_zero_step_uses_the_unrotated_crystal() {
    let base = "-cell 70 80 90 75 85 95 -misset 10 20 30 -N 5 -default_F 100 -distance 100 -pixel 0.1 -detpixels 48 -oversample 1";
    let both = render(&format!("{base} -phi 0 -osc 2 -phisteps 2"));
    let at0 = render(&format!("{base} -phi 0"));
    let at1 = render(&format!("{base} -phi 1"));
    for i in 0..both.len() {
        let want = (at0[i] as f64 + at1[i] as f64) / 2.0;
        assert!((both[i] as f64 - want).abs() <= 1e-6 * want.abs().max(1e-30), "pixel {i}: {} vs {want}", both[i]);
    }
}

#[test]
fn interpolation_does_not_depend_on_which_pixels_are_rendered() {
    // a small HKL grid: many pixels have an incomplete 4x4x4 neighbourhood and fall back to the
    // nearest neighbour; the reference would switch interpolation off for every later pixel.
    let dir = scratch("interp");
    let hkl = dir.join("small.hkl");
    let mut text = String::new();
    for h in -3..=3 {
        for k in -3..=3 {
            for l in -3..=3 {
                text += &format!("{h} {k} {l} {}\n", 10.0 + (h * 7 + k * 3 + l) as f64 * 0.5);
            }
        }
    }
    std::fs::write(&hkl, text).unwrap();
    let base = format!("-cell 30 30 30 90 90 90 -misset 5 8 3 -N 2 -lambda 1 -distance 60 -pixel 0.2 -detpixels 64 -oversample 1 -interpolate -hkl {}", hkl.display());
    let full = render(&base);
    let part = render(&format!("{base} -roi 40 63 40 63"));
    let mut compared = 0;
    for s in 40..64 {
        for f in 40..64 {
            let i = s * 64 + f;
            assert!((full[i] - part[i]).abs() <= 1e-6 * full[i].abs().max(1e-30), "pixel ({f},{s})");
            compared += 1;
        }
    }
    assert_eq!(compared, 24 * 24);
    let nearest = render(&base.replace("-interpolate", "-nointerpolate"));
    assert!(full.iter().zip(&nearest).any(|(a, b)| (a - b).abs() > 1e-3 * a.abs()), "interpolation had no effect");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Pearson correlation of two images.
fn pearson(x: &[f32], y: &[f32]) -> f64 {
    let n = x.len() as f64;
    let (mx, my) = (x.iter().map(|&v| v as f64).sum::<f64>() / n, y.iter().map(|&v| v as f64).sum::<f64>() / n);
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (&a, &b) in x.iter().zip(y) {
        let (da, db) = (a as f64 - mx, b as f64 - my);
        sxy += da * db;
        sxx += da * da;
        syy += db * db;
    }
    sxy / (sxx * syy).sqrt()
}

#[test]
fn cell_flags_render_the_cell_asked_for() {
    // the reciprocal basis of 70 80 90 75 85 95, built here independently of the program: the
    // Cholesky factor of the reciprocal metric (inverse of the direct one), a* along x and b* in
    // the xy plane; then rotated about x, y, z by 10, 20, 30 degrees like -misset
    let (l, ang) = ([70.0f64, 80.0, 90.0], [75.0f64, 85.0, 95.0].map(f64::to_radians));
    let g = [
        [l[0] * l[0], l[0] * l[1] * ang[2].cos(), l[0] * l[2] * ang[1].cos()],
        [l[0] * l[1] * ang[2].cos(), l[1] * l[1], l[1] * l[2] * ang[0].cos()],
        [l[0] * l[2] * ang[1].cos(), l[1] * l[2] * ang[0].cos(), l[2] * l[2]],
    ];
    let (c0, c1, c2) = (vec3::cross(g[1], g[2]), vec3::cross(g[2], g[0]), vec3::cross(g[0], g[1]));
    let det = vec3::dot(g[0], c0);
    let gs = [vec3::scale(c0, 1.0 / det), vec3::scale(c1, 1.0 / det), vec3::scale(c2, 1.0 / det)];
    let ax = gs[0][0].sqrt();
    let (bx, by) = (gs[0][1] / ax, (gs[1][1] - (gs[0][1] / ax).powi(2)).sqrt());
    let cx = gs[0][2] / ax;
    let cy = (gs[1][2] - bx * cx) / by;
    let cz = (gs[2][2] - cx * cx - cy * cy).sqrt();
    let rotate = |v: [f64; 3]| {
        let (sx, cxr) = 10f64.to_radians().sin_cos();
        let (sy, cyr) = 20f64.to_radians().sin_cos();
        let (sz, czr) = 30f64.to_radians().sin_cos();
        let v = [v[0], v[1] * cxr - v[2] * sx, v[1] * sx + v[2] * cxr];
        let v = [v[0] * cyr + v[2] * sy, v[1], -v[0] * sy + v[2] * cyr];
        [v[0] * czr - v[1] * sz, v[0] * sz + v[1] * czr, v[2]]
    };
    let stars = [rotate([ax, 0.0, 0.0]), rotate([bx, by, 0.0]), rotate([cx, cy, cz])];
    let dir = scratch("exact_cell");
    let mat = dir.join("exact.mat");
    // MOSFLM layout: line i holds the i-th components of a*, b*, c*, times lambda (1 A)
    let text: String = (0..3).map(|i| format!("{:.17e} {:.17e} {:.17e}\n", stars[0][i], stars[1][i], stars[2][i])).collect();
    std::fs::write(&mat, text).unwrap();
    let common = "-default_F 100 -N 5 -lambda 1 -distance 100 -detpixels 256 -pixel 0.1";
    let from_mat = render(&format!("-mat {} {common}", mat.display()));
    let from_cell = render(&format!("-cell 70 80 90 75 85 95 -misset 10 20 30 {common}"));
    let legacy = render(&format!("-cell 70 80 90 75 85 95 -misset 10 20 30 -legacy_cell {common}"));
    let top = from_mat.iter().cloned().fold(0.0f32, f32::max) as f64;
    assert!(top > 0.0);
    let worst = from_mat.iter().zip(&from_cell).map(|(&a, &b)| (a as f64 - b as f64).abs()).fold(0.0, f64::max);
    let r = pearson(&from_mat, &from_cell);
    assert!(r >= 0.99999 && worst <= 1e-6 * top, "-cell vs -mat of the same cell: r = {r}, max diff {:e} of max", worst / top);
    // the reference's construction is a different lattice: its spots move
    let r_legacy = pearson(&from_mat, &legacy);
    assert!(r_legacy < 0.9999, "-legacy_cell vs the exact cell: r = {r_legacy}");
    eprintln!("-cell vs -mat: r = {r:.9}, max diff {:.1e} of max; with -legacy_cell r = {r_legacy:.6}", worst / top);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn png_preview_is_log_scaled_and_marks_where_the_beam_meets_the_detector() {
    let dir = crate::common::scratch("png_preview");
    // MOSFLM convention: the beam spot half a pixel beyond (Xbeam, Ybeam) = (1, 2) mm, at the centre
    // of pixel (slow 10, fast 20)
    let out = crate::common::run_in(&dir, "-cell 70 80 90 90 90 90 -default_F 100 -N 5 -distance 80 -pixel 0.1 -detpixels 64 -Xbeam 1.0 -Ybeam 2.0 -floatfile f.bin -pngfile p.png -noprogress");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(dir.join("p.png")).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut rgb = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut rgb).unwrap();
    assert_eq!((info.width, info.height), (64, 64));
    let px = |f: usize, s: usize| &rgb[3 * (s * 64 + f)..3 * (s * 64 + f) + 3];
    // the cross and its arms
    assert_eq!(px(20, 10), &[255, 0, 0]);
    assert_eq!(px(22, 10), &[255, 0, 0]);
    assert_eq!(px(20, 12), &[255, 0, 0]);
    // grey elsewhere, white at the brightest pixel, darker (log scale) away from it
    let image: Vec<f32> = std::fs::read(dir.join("f.bin")).unwrap().chunks(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
    let (brightest, _) = image.iter().enumerate().filter(|(k, _)| (k % 64).abs_diff(20) > 3 && (k / 64).abs_diff(10) > 3).fold((0, 0.0f32), |m, (k, &v)| if v > m.1 { (k, v) } else { m });
    let top = image.iter().copied().fold(0.0f32, f32::max);
    let g = px(brightest % 64, brightest / 64);
    assert!(g[0] == g[1] && g[1] == g[2], "{g:?}");
    let want = (255.0 * (image[brightest].ln_1p() / top.ln_1p())).round() as u8;
    assert_eq!(g[0], want);
}
