//! The C program's flags as data: names, values, units and defaults, grouped by topic. The help
//! text, the clap subcommand help and the "did you mean" suggestions are made from it; a test
//! checks it against the parser in `cli.rs`, so the two cannot drift apart.

/// One flag (with its aliases): what it takes, what it does, and its default.
pub struct Flag {
    pub names: &'static [&'static str],
    /// The values it takes, as shown in the help ("" for a switch).
    pub value: &'static str,
    pub help: &'static str,
    /// The default where one is known ("" for none or "derived").
    pub default: &'static str,
}

pub struct Group {
    pub title: &'static str,
    pub flags: &'static [Flag],
}

const fn f(names: &'static [&'static str], value: &'static str, help: &'static str, default: &'static str) -> Flag {
    Flag { names, value, help, default }
}

pub const GROUPS: &[Group] = &[
    Group {
        title: "Crystal",
        flags: &[
            f(&["-cell"], "a b c al be ga", "unit cell (Angstrom, degrees; all six numbers)", ""),
            f(&["-mat", "-matrix"], "FILE", "MOSFLM orientation matrix (a*, b*, c* columns, times lambda)", ""),
            f(&["-expt"], "FILE", "DIALS experiment list: beam, multi-panel detector, crystal, scan (flags override)", ""),
            f(&["-legacy_cell"], "", "build -cell's oblique cells as nanoBragg.c does (slightly off), to compare with its images", "exact cell"),
            f(&["-misset"], "x y z|random", "rotations about x, y, z (degrees), or a random orientation", "none"),
            f(&["-misset_seed"], "N", "seed of -misset random", "clock"),
            f(&["-N"], "n", "crystal size in unit cells along a, b and c", "1"),
            f(&["-Na"], "n", "crystal size in unit cells along a", "1"),
            f(&["-Nb"], "n", "crystal size in unit cells along b", "1"),
            f(&["-Nc"], "n", "crystal size in unit cells along c", "1"),
            f(&["-xtalsize", "-xtal_size", "-samplesize", "-sample_size"], "mm", "crystal size in x, y and z (N = ceil(size/cell))", ""),
            f(&["-sample_x", "-sample_thick", "-xtal_x", "-xtal_thick"], "mm", "crystal size along x", ""),
            f(&["-sample_y", "-sample_width", "-width", "-xtal_y", "-xtal_width"], "mm", "crystal size along y", ""),
            f(&["-sample_z", "-sample_height", "-height", "-xtal_z", "-xtal_height"], "mm", "crystal size along z", ""),
            f(&["-density", "-sample_density", "-MW", "-molecular_weight"], "x", "accepted for compatibility; no effect on the image", ""),
            f(&["-square_xtal"], "", "parallelepiped crystal (sinc lattice transform)", "on"),
            f(&["-round_xtal"], "", "spherical crystal", ""),
            f(&["-gauss_xtal"], "", "Gaussian spot shape", ""),
            f(&["-tophat_spots", "-binary_spots"], "", "flat-topped spots", ""),
            f(&["-fudge"], "f", "spot-size factor for round/gauss/tophat shapes", "1"),
            f(&["-mosaic", "-mosaici", "-mosaic_spr", "-mosaic_spread"], "deg", "mosaic spread", "0"),
            f(&["-mosaic_domains", "-mosaic_dom"], "n", "number of mosaic domains", "1 (10 with a spread)"),
            f(&["-mosaic_seed"], "N", "seed of the domain orientations", "12345678"),
            f(&["-phi"], "deg", "rotation start", "0"),
            f(&["-osc"], "deg", "rotation range", "0"),
            f(&["-phistep"], "deg", "rotation step", ""),
            f(&["-phisteps"], "n", "rotation steps", "1"),
        ],
    },
    Group {
        title: "Structure factors",
        flags: &[
            f(&["-hkl"], "FILE", "text file 'h k l F' per line; writes the -dump cache", ""),
            f(&["-default_F"], "F", "F of every reflection not in the file (or of all without one)", "0"),
            f(&["-dump"], "FILE", "structure-factor cache, read when -hkl is absent", "Fdump.bin"),
            f(&["-interpolate"], "", "tricubic interpolation between reflections", "when any N <= 2"),
            f(&["-nointerpolate"], "", "no interpolation", ""),
        ],
    },
    Group {
        title: "Detector",
        flags: &[
            f(&["-distance"], "mm", "sample to beam spot along the beam (beam pivot)", "100"),
            f(&["-close_distance"], "mm", "sample to detector plane (sample pivot)", ""),
            f(&["-pixel"], "mm", "pixel size", "0.1"),
            f(&["-detpixels"], "n", "pixels along both axes", "1024"),
            f(&["-detpixels_f", "-detpixels_x"], "n", "pixels along the fast axis", "1024"),
            f(&["-detpixels_s", "-detpixels_y"], "n", "pixels along the slow axis", "1024"),
            f(&["-detsize"], "mm", "detector size along both axes", "102.4"),
            f(&["-detsize_f", "-detsize_x"], "mm", "detector size along the fast axis", "102.4"),
            f(&["-detsize_s", "-detsize_y"], "mm", "detector size along the slow axis", "102.4"),
            f(&["-Xbeam"], "mm", "beam centre, convention's x (beam pivot)", "centre"),
            f(&["-Ybeam"], "mm", "beam centre, convention's y (beam pivot)", "centre"),
            f(&["-Xclose"], "mm", "near point x (sample pivot)", ""),
            f(&["-Yclose"], "mm", "near point y (sample pivot)", ""),
            f(&["-ORGX"], "px", "XDS beam centre x (sample pivot)", ""),
            f(&["-ORGY"], "px", "XDS beam centre y (sample pivot)", ""),
            f(&["-pivot"], "sample|beam", "what stays fixed when the detector rotates", "convention"),
            f(&["-mosflm"], "", "MOSFLM axes and beam centre", "on"),
            f(&["-xds"], "", "XDS axes and beam centre", ""),
            f(&["-adxv"], "", "ADXV axes and beam centre", ""),
            f(&["-denzo"], "", "DENZO axes and beam centre", ""),
            f(&["-dials"], "", "DIALS axes and beam centre", ""),
            f(&["-fdet_vector"], "x y z", "fast axis (custom convention; not 0 0 0)", ""),
            f(&["-sdet_vector"], "x y z", "slow axis (custom convention; not 0 0 0)", ""),
            f(&["-odet_vector"], "x y z", "detector normal (custom convention; not 0 0 0)", ""),
            f(&["-beam_vector"], "x y z", "beam direction (custom convention; not 0 0 0)", ""),
            f(&["-polar_vector"], "x y z", "polarization axis (custom convention; not 0 0 0)", ""),
            f(&["-spindle_axis"], "x y z", "rotation axis (custom convention; not 0 0 0)", ""),
            f(&["-twotheta_axis"], "x y z", "two-theta axis (custom convention; not 0 0 0)", ""),
            f(&["-pix0_vector"], "x y z", "first pixel position (m); recomputed, as in nanoBragg.c", ""),
            f(&["-twotheta"], "deg", "detector swing about the two-theta axis (sample pivot)", "0"),
            f(&["-detector_rotx"], "deg", "detector rotation about x", "0"),
            f(&["-detector_roty"], "deg", "detector rotation about y", "0"),
            f(&["-detector_rotz"], "deg", "detector rotation about z", "0"),
            f(&["-curved_det"], "", "every pixel at the same distance", "off"),
            f(&["-point_pixel"], "", "solid angle 1/R^2 (no obliquity)", "off"),
            f(&["-detector_abs", "-detector_absorb"], "um|inf", "sensor attenuation depth (0 or inf: none)", "none"),
            f(&["-detector_thick"], "um", "sensor thickness", "0"),
            f(&["-detector_thicksteps", "-thicksteps"], "n", "sensor layers", "1"),
            f(&["-roi"], "xmin xmax ymin ymax", "render only these pixels (inclusive)", "all"),
            f(&["-mask"], "FILE", "SMV mask: pixels with 0 are skipped; must match the detector size", ""),
            f(&["-img"], "FILE", "read detector and beam settings from an SMV header", ""),
        ],
    },
    Group {
        title: "Beam",
        flags: &[
            f(&["-lambda", "-wave"], "A", "wavelength", "1"),
            f(&["-energy"], "eV", "photon energy (sets the wavelength)", ""),
            f(&["-dispersion"], "%", "spectral width", "0"),
            f(&["-dispsteps"], "n", "wavelength samples", "1"),
            f(&["-divergence"], "mrad", "horizontal and vertical divergence", "0"),
            f(&["-divsteps"], "n", "divergence samples, both directions", "1"),
            f(&["-hdivrange"], "mrad", "horizontal divergence", "0"),
            f(&["-vdivrange"], "mrad", "vertical divergence", "0"),
            f(&["-hdivstep"], "mrad", "horizontal divergence step", ""),
            f(&["-vdivstep"], "mrad", "vertical divergence step", ""),
            f(&["-hdivsteps"], "n", "horizontal divergence samples", "1"),
            f(&["-vdivsteps"], "n", "vertical divergence samples", "1"),
            f(&["-square_div"], "", "keep the full divergence grid", "off"),
            f(&["-round_div"], "", "trim the divergence grid to an ellipse", "on"),
            f(&["-sourcefile"], "FILE", "sources 'X Y Z weight lambda' (m), one a line; replaces the grid; '#' lines skipped (with a warning)", ""),
            f(&["-source_weights"], "", "scale each source by weight/mean(weight) (nanoBragg.c ignores weights)", "off"),
            f(&["-polar"], "K", "Kahn polarization factor, -1 to 1", "0"),
            f(&["-nopolar"], "", "no polarization correction", "off"),
            f(&["-fluence"], "ph/m^2", "incident fluence", "1.26e29"),
            f(&["-flux"], "ph/s", "incident flux (with -exposure and -beamsize)", ""),
            f(&["-exposure"], "s", "exposure time", "1"),
            f(&["-beamsize"], "mm", "beam size (clips the sample)", "0.1"),
        ],
    },
    Group {
        title: "Sampling and background",
        flags: &[
            f(&["-oversample"], "n", "n x n sub-pixels", "from the crystal size"),
            f(&["-oversample_thick"], "", "sensor absorption per sub-pixel", "off"),
            f(&["-oversample_polar"], "", "polarization per sub-pixel", "off"),
            f(&["-oversample_omega"], "", "solid angle per sub-pixel", "off"),
            f(&["-dmin"], "A", "skip scattering beyond this resolution", "none"),
            f(&["-water"], "um", "water-layer background thickness", "0"),
            f(&["-coherent"], "", "accepted for compatibility; no effect", ""),
        ],
    },
    Group {
        title: "Output",
        flags: &[
            f(&["-floatfile", "-floatimage"], "FILE", "float32 image", "floatimage.bin"),
            f(&["-intfile", "-intimage"], "FILE", "SMV image, scaled by -scale plus -adc", ""),
            f(&["-noisefile", "-noiseimage"], "FILE", "SMV image with Poisson noise", ""),
            f(&["-pgmfile", "-pgmimage"], "FILE", "8-bit PGM preview", ""),
            f(&["-cbffile"], "FILE", "CBF image (imgCIF geometry, int32, byte-offset)", ""),
            f(&["-nxsfile"], "FILE", "NeXus NXmx HDF5 image", ""),
            f(&["-nxs_append"], "", "add the image to an existing -nxsfile series as its next frame", "off"),
            f(&["-write_expt"], "FILE", "DIALS experiment list of the simulation", ""),
            f(&["-smv_header"], "c|dials", "SMV header keys: the C program's, or read right by dxtbx", "c"),
            f(&["-scale"], "x", "scale of the SMV image", "55000/max"),
            f(&["-pgmscale"], "x", "scale of the PGM preview", "derived"),
            f(&["-adc"], "counts", "offset added to the SMV images", "40"),
            f(&["-seed"], "N", "noise seed (repeats a run)", "clock"),
            f(&["-nonoise"], "", "no noise image", "off"),
            f(&["-nopgm"], "", "no PGM preview", "off"),
            f(&["-progress"], "", "progress meter on stderr", "when a terminal"),
            f(&["-noprogress"], "", "no progress meter", ""),
            f(&["-printout"], "", "one line per rendered pixel (or only -printout_pixel's)", "off"),
            f(&["-printout_pixel"], "f s", "full trace of pixel (fast, slow)", ""),
            f(&["-trace_pixel"], "s f", "full trace of pixel (slow, fast)", ""),
        ],
    },
    Group {
        title: "Engine",
        flags: &[
            f(&["-memory_mb"], "MB", "memory budget of the tensor batches", "32"),
            f(&["-chunk_elements"], "N", "values per batch tensor", "65536"),
            f(&["-threads", "-nthreads"], "N", "worker threads", "one per core"),
            f(&["-engine"], "auto|fused|tensor|gpu", "forward-render engine: auto picks fused on the CPU in f64, gpu on -device gpu, tensor otherwise; a choice the device cannot run is an error", "auto"),
            f(&["-device"], "cpu|gpu", "render device", "cpu"),
            f(&["-precision"], "f64|f32", "arithmetic precision (the GPU uses f32)", "f64"),
            f(&["-h", "-help", "--help"], "", "this help", ""),
        ],
    },
];

/// Every flag name the simulation accepts.
pub fn all_names() -> impl Iterator<Item = &'static str> {
    GROUPS.iter().flat_map(|g| g.flags.iter()).flat_map(|f| f.names.iter().copied())
}

/// The flag table as help text: one block per topic, one line per flag.
pub fn flags_help() -> String {
    let mut s = String::new();
    for g in GROUPS {
        s.push_str(&format!("{}:\n", g.title));
        for f in g.flags {
            let mut left = f.names.join(", ");
            if !f.value.is_empty() {
                left.push_str(&format!(" <{}>", f.value));
            }
            let mut right = f.help.to_string();
            if !f.default.is_empty() {
                right.push_str(&format!(" [default: {}]", f.default));
            }
            if left.len() <= 30 {
                s.push_str(&format!("  {left:<30} {right}\n"));
            } else {
                s.push_str(&format!("  {left}\n  {:<30} {right}\n", ""));
            }
        }
        s.push('\n');
    }
    s.push_str("Run file:\n");
    s.push_str(&format!("  {:<30} {}\n", "--config <FILE>", "read settings from a TOML run file; flags override it"));
    s.push_str(&format!("  {:<30} {}\n\n", "--print-config", "print the resolved settings as a run file and exit"));
    s.push_str(
        "Units: mm, degrees, Angstrom, mrad (divergence), percent (dispersion), um (sensor), photons/m^2\n\
         (fluence). Names are matched exactly. See docs/cli.md.\n",
    );
    s
}

/// Edit distance between two names (a typo's distance to a real flag).
fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

/// The valid name closest to a mistyped one, if any is close: a few edits away, or (for the
/// message only, never for parsing) the shortest name the typo begins.
pub fn closest<'a>(typed: &str, names: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let names: Vec<&str> = names.into_iter().collect();
    let limit = (typed.chars().count() / 3).max(2);
    let best = names
        .iter()
        .map(|n| (levenshtein(&typed.to_lowercase(), &n.to_lowercase()), levenshtein(typed, n), *n))
        .min()
        .filter(|&(d, _, _)| d <= limit)
        .map(|(_, _, n)| n);
    best.or_else(|| {
        names.iter().filter(|n| typed.len() >= 4 && n.starts_with(typed)).min_by_key(|n| n.len()).copied()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions() {
        assert_eq!(closest("-distanc", all_names()), Some("-distance"));
        assert_eq!(closest("-Cell", all_names()), Some("-cell"));
        assert_eq!(closest("--cell", all_names()), Some("-cell"));
        assert_eq!(closest("-mosaic_seeds", all_names()), Some("-mosaic_seed"));
        assert_eq!(closest("-detpix", all_names()), Some("-detpixels"));
        assert_eq!(closest("-zzzzzzzzzz", all_names()), None);
    }
}
