//! From [`Settings`] to a render's [`Setup`]: detector size and placement (pivot rules), the
//! source list, the sample's molecule count and the fluence, completed by the reference's rules
//! and in its order of operations, so that the geometry carries the same bits.
//!
//! The nanoBragg detector of `experiment::detector` is not used for `nanobragg nonbragg`:
//! nonBragg's beam-centre defaults, its pivot flags and its two-theta axis differ
//! (specs/nonbragg.md, "Geometry"). A render's `-stol` goes the other way
//! ([`from_experiment`]): its setup takes the render's own placed detector and sources.

use super::settings::{Beam, Detector, Divergence, Settings};
use crate::bail;
use crate::error::Result;
use crate::physics::constants::AVOGADRO;
use crate::config::Pivot;
use crate::physics::vec3::{add, cross, dot, rotate_axis, rotate_xyz, scale, sub, unitize, V3};

/// One X-ray source: `position` as the reference stores it (the incident direction is
/// -position, only its direction matters), a weight and a wavelength (m).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Source {
    pub position: V3,
    pub weight: f64,
    pub wavelength: f64,
}

/// A resolved render: every quantity the pixel loop, the image files and the header need.
#[derive(Clone, Debug, PartialEq)]
pub struct Setup {
    pub fpixels: usize,
    pub spixels: usize,
    /// Pixel size (m).
    pub pixel: f64,
    /// Detector size (m).
    pub size_x: f64,
    pub size_y: f64,
    /// Unit fast, slow and normal axes after the rotations.
    pub fdet: V3,
    pub sdet: V3,
    pub odet: V3,
    /// Position of the first pixel's corner (m).
    pub pix0: V3,
    /// Beam spot on the detector (m, fast and slow).
    pub xbeam: f64,
    pub ybeam: f64,
    /// Foot of the normal from the sample (m, fast and slow).
    pub xclose: f64,
    pub yclose: f64,
    /// Sample to beam spot along the beam (m).
    pub distance: f64,
    /// Sample to detector plane along its normal (m).
    pub close_distance: f64,
    pub pivot: Pivot,
    /// Unit beam direction.
    pub beam: V3,
    /// Unit axis of the polarization (the E-vector lies closest to it).
    pub polarization_axis: V3,
    pub kahn: f64,
    pub polarized: bool,
    pub sources: Vec<Source>,
    /// Whether the sources came from a source list.
    pub from_source_list: bool,
    /// Central wavelength (m), dispersion (fraction) and its number of wavelengths.
    pub wavelength: f64,
    pub dispersion: f64,
    pub dispsteps: usize,
    /// Divergence ranges and steps (rad) and the number of divergence directions kept.
    pub hdivrange: f64,
    pub hdivstep: f64,
    pub vdivrange: f64,
    pub vdivstep: f64,
    pub divsteps: usize,
    /// Generated divergence offsets (h, v) in rad, in the order they were made.
    pub divergence_offsets: Vec<(f64, f64)>,
    pub oversample: usize,
    /// sources x oversample^2: the number of samples the image is averaged over.
    pub steps: usize,
    /// Inclusive pixel bounds (xmin, xmax, ymin, ymax).
    pub roi: [usize; 4],
    /// Photons/m^2.
    pub fluence: f64,
    /// Sample size after clipping by the beam (m).
    pub thickness: f64,
    pub width: f64,
    pub height: f64,
    /// g/cm^3 (derived from the molecule count when that was given).
    pub density: f64,
    pub molecular_weight: f64,
    pub molecules: f64,
    pub curved: bool,
    pub point_pixel: bool,
    pub fmap: bool,
    /// Header values (rad).
    pub phi: f64,
    pub osc: f64,
    pub phistep: f64,
    pub phisteps: i64,
    pub twotheta: f64,
    /// Things the user should know (sample clipped by the beam, ...), one line each.
    pub notes: Vec<String>,
}

impl Setup {
    /// Whether pixel (fast, slow) is inside the rendered region.
    #[inline]
    pub fn in_roi(&self, f: usize, s: usize) -> bool {
        let [x0, x1, y0, y1] = self.roi;
        f >= x0 && f <= x1 && s >= y0 && s <= y1
    }
}

/// The render of `layer` in the geometry of a nanoBragg experiment (panel 0): the same
/// pixels (origin, axes, curvature, point pixel), region, sub-pixels, sources (weighted as the
/// Bragg term weighs them) and polarization, so that a render's `-stol` adds what nonBragg
/// renders for that geometry. nonBragg has no sensor depth: the front face, full capture.
pub fn from_experiment(exp: &crate::experiment::Experiment, layer: &crate::experiment::AmorphousLayer) -> Setup {
    let d = &exp.detector;
    let b = &exp.beam;
    let mean_w = b.sources.iter().map(|s| s.weight).sum::<f64>() / b.sources.len().max(1) as f64;
    let sources = b
        .sources
        .iter()
        .map(|s| Source {
            position: s.dir,
            weight: if b.use_weights { if mean_w > 0.0 { s.weight / mean_w } else { 0.0 } } else { 1.0 },
            wavelength: s.lambda,
        })
        .collect::<Vec<_>>();
    let os = exp.sampling.oversample.max(1);
    let roi = [d.roi[0].max(0) as usize, d.roi[1].max(0) as usize, d.roi[2].max(0) as usize, d.roi[3].max(0) as usize];
    Setup {
        fpixels: d.fpixels,
        spixels: d.spixels,
        pixel: d.pixel_size,
        size_x: d.fpixels as f64 * d.pixel_size,
        size_y: d.spixels as f64 * d.pixel_size,
        fdet: d.fdet,
        sdet: d.sdet,
        odet: d.odet,
        pix0: d.pix0,
        xbeam: d.xbeam,
        ybeam: d.ybeam,
        xclose: d.xclose,
        yclose: d.yclose,
        distance: d.distance,
        close_distance: d.close_distance,
        pivot: d.pivot,
        beam: d.beam_vector,
        polarization_axis: b.polar_vector,
        kahn: b.kahn_factor,
        polarized: !b.nopolar,
        steps: sources.len() * os * os,
        sources,
        from_source_list: false,
        wavelength: exp.beam.sources.first().map_or(1e-10, |s| s.lambda),
        dispersion: b.dispersion,
        dispsteps: b.dispsteps,
        hdivrange: b.hdivrange,
        hdivstep: b.hdivstep,
        vdivrange: b.vdivrange,
        vdivstep: b.vdivstep,
        divsteps: b.divsteps,
        divergence_offsets: Vec::new(),
        oversample: os,
        roi,
        fluence: b.fluence,
        thickness: layer.thickness,
        width: layer.side,
        height: layer.side,
        density: layer.density * 1e6,
        molecular_weight: layer.molecular_weight,
        molecules: layer.molecules,
        curved: d.curved,
        point_pixel: d.point_pixel,
        fmap: false,
        phi: exp.crystal.phi0,
        osc: exp.crystal.osc,
        phistep: exp.crystal.phistep,
        phisteps: exp.crystal.phisteps as i64,
        twotheta: d.twotheta,
        notes: Vec::new(),
    }
}

/// The reference's completion of (range, step, count) for a divergence or the dispersion:
/// a value below zero (or a count <= 0) means "not given".
fn complete_steps(mut range: f64, mut step: f64, mut steps: i64) -> (f64, f64, i64) {
    if steps <= 0 {
        if range < 0.0 {
            if step <= 0.0 {
                (steps, range, step) = (1, 0.0, 0.0);
            } else {
                (range, steps) = (step, 2);
            }
        } else if step <= 0.0 {
            (step, steps) = (range, 2);
        } else {
            steps = (range / step).ceil() as i64;
        }
    } else if range < 0.0 {
        if step <= 0.0 {
            range = 1.0;
            step = range / steps as f64;
        } else {
            (range, steps) = (step, 2);
        }
    } else if step <= 0.0 {
        if steps <= 1 {
            steps = 2;
        }
        step = range / (steps - 1) as f64;
    }
    if range <= 0.0 || step <= 0.0 || steps <= 0 {
        (steps, range, step) = (1, 0.0, 0.0);
    }
    (range, step, steps)
}

fn complete_divergence(d: &Divergence) -> (f64, f64, i64) {
    complete_steps(d.range.unwrap_or(-1.0), d.step.unwrap_or(-1.0), d.steps.unwrap_or(-1))
}

/// The header's phi sampling, completed by the reference's rules: (osc, phistep, phisteps).
fn complete_phi(osc: Option<f64>, phistep: Option<f64>, phisteps: Option<i64>) -> (f64, f64, i64) {
    let rtd = crate::experiment::RTD;
    let (mut osc, mut phistep, mut phisteps) = (osc.unwrap_or(-1.0), phistep.unwrap_or(-1.0), phisteps.unwrap_or(-1));
    if phisteps < 0 {
        if osc < 0.0 {
            if phistep <= 0.0 {
                (phisteps, osc, phistep) = (1, 0.0, 0.0);
            } else {
                (osc, phisteps) = (phistep, 2);
            }
        } else if phistep <= 0.0 {
            phisteps = 2;
            phistep = osc / 2.0;
        } else {
            phisteps = (osc / phistep).ceil() as i64;
        }
    } else {
        if phisteps == 0 {
            phisteps = 1;
        }
        if osc < 0.0 {
            if phistep <= 0.0 {
                osc = 1.0 / rtd;
                phistep = osc / phisteps as f64;
            } else {
                (osc, phisteps) = (phistep, 2);
            }
        } else if phistep < 0.0 {
            phistep = osc / phisteps as f64;
        }
    }
    (osc, phistep, phisteps)
}

/// A unit vector, or an error naming the vector when it has no direction.
fn unit(v: V3, what: &str) -> Result<V3> {
    let (u, m) = unitize(v);
    if !(m > 0.0 && m.is_finite()) {
        bail!("{what}: the vector {} {} {} has no direction", v[0], v[1], v[2]);
    }
    Ok(u)
}

/// The polarization axis as the reference uses it: it normalises the axis again at every
/// sample, so take the fixed point of repeated normalisation.
fn settled_unit(mut v: V3) -> V3 {
    for _ in 0..8 {
        let (u, _) = unitize(v);
        if u == v {
            break;
        }
        v = u;
    }
    v
}

fn check(ok: bool, msg: impl FnOnce() -> String) -> Result<()> {
    if ok {
        Ok(())
    } else {
        Err(crate::error::Error::new(msg()))
    }
}

/// Largest number of pixels rendered (keeps a typo in a size from exhausting memory).
const MAX_PIXELS: usize = 1 << 30;

/// The detector's pixel grid and the rendered region.
struct Grid {
    /// Detector size (m).
    size_x: f64,
    size_y: f64,
    fpixels: usize,
    spixels: usize,
    roi: [usize; 4],
}

/// Beam spot and foot of the normal (m, fast and slow) as given or defaulted, before the
/// detector is placed.
struct Centre {
    xclose: f64,
    yclose: f64,
    xbeam: f64,
    ybeam: f64,
}

/// The fluence and the sample after clipping by the beam.
struct Dose {
    fluence: f64,
    thickness: f64,
    width: f64,
    height: f64,
    /// g/m^3, as the reference holds it.
    density: f64,
    molecules: f64,
}

/// Unit beam, polarization and detector axes, before the detector rotations.
struct Axes {
    beam: V3,
    fdet: V3,
    sdet: V3,
    odet: V3,
    polarization_axis: V3,
    /// Axis of the horizontal divergence (beam x polarization).
    vert: V3,
    twotheta_axis: V3,
}

/// Divergence, dispersion and phi sampling, completed by the reference's rules.
struct Sampling {
    hdivrange: f64,
    hdivstep: f64,
    hdivsteps: i64,
    vdivrange: f64,
    vdivstep: f64,
    vdivsteps: i64,
    dispersion: f64,
    dispstep: f64,
    dispsteps: i64,
    osc: f64,
    phistep: f64,
    phisteps: i64,
}

/// The detector after its rotations: axes, first pixel's corner, beam spot and distances.
struct Placement {
    fdet: V3,
    sdet: V3,
    odet: V3,
    pix0: V3,
    xbeam: f64,
    ybeam: f64,
    xclose: f64,
    yclose: f64,
    distance: f64,
    close_distance: f64,
}

/// The sources, the divergence offsets they came from, and whether a source list gave them.
struct SourceSet {
    sources: Vec<Source>,
    divergence_offsets: Vec<(f64, f64)>,
    from_source_list: bool,
}

/// Resolves the settings. Fails, with a one-line message naming the quantity, on impossible
/// values (negative sizes or density, a non-positive pixel or wavelength, ...).
pub fn resolve(st: &Settings) -> Result<Setup> {
    let (sa, b, d) = (&st.sample, &st.beam, &st.detector);
    // the steps run in the reference's order, so that the first impossible value is the one named
    validate(st)?;
    let grid = pixel_grid(d, st.roi)?;
    let centre = beam_centre(d, &grid);
    let mut notes = Vec::new();
    let dose = sample_and_fluence(st, &mut notes)?;
    let axes = axes(b, d)?;
    let sm = sampling(st)?;
    let placed = place(d, &axes, &centre);
    let set = sources(b, &axes, &sm)?;
    let oversample = st.oversample.filter(|&n| n > 0).unwrap_or(1);
    check(oversample <= 1000, || format!("-oversample {oversample}: at most 1000"))?;
    let steps = set.sources.len() * oversample * oversample;
    Ok(Setup {
        fpixels: grid.fpixels,
        spixels: grid.spixels,
        pixel: d.pixel,
        size_x: grid.size_x,
        size_y: grid.size_y,
        fdet: placed.fdet,
        sdet: placed.sdet,
        odet: placed.odet,
        pix0: placed.pix0,
        xbeam: placed.xbeam,
        ybeam: placed.ybeam,
        xclose: placed.xclose,
        yclose: placed.yclose,
        distance: placed.distance,
        close_distance: placed.close_distance,
        pivot: d.pivot,
        beam: axes.beam,
        polarization_axis: axes.polarization_axis,
        kahn: b.kahn,
        polarized: b.polarized,
        sources: set.sources,
        from_source_list: set.from_source_list,
        wavelength: b.wavelength,
        dispersion: sm.dispersion,
        dispsteps: sm.dispsteps as usize,
        hdivrange: sm.hdivrange,
        hdivstep: sm.hdivstep,
        vdivrange: sm.vdivrange,
        vdivstep: sm.vdivstep,
        divsteps: set.divergence_offsets.len(),
        divergence_offsets: set.divergence_offsets,
        oversample,
        steps,
        roi: grid.roi,
        fluence: dose.fluence,
        thickness: dose.thickness,
        width: dose.width,
        height: dose.height,
        density: dose.density / 1e6,
        molecular_weight: sa.molecular_weight,
        molecules: dose.molecules,
        curved: d.curved,
        point_pixel: d.point_pixel,
        fmap: st.fmap,
        phi: st.scan.phi,
        osc: sm.osc,
        phistep: sm.phistep,
        phisteps: sm.phisteps,
        twotheta: d.twotheta,
        notes,
    })
}

/// Refuses impossible sample, beam and detector values, naming the first one found.
fn validate(st: &Settings) -> Result<()> {
    let (sa, b, d) = (&st.sample, &st.beam, &st.detector);
    check(sa.thickness >= 0.0 && sa.width >= 0.0 && sa.height >= 0.0, || {
        format!("sample size {} x {} x {} m: must not be negative", sa.thickness, sa.width, sa.height)
    })?;
    check(sa.density >= 0.0, || format!("sample density {} g/cm^3: must not be negative", sa.density))?;
    check(sa.molecular_weight > 0.0, || format!("molecular weight {} g/mol: must be positive", sa.molecular_weight))?;
    check(sa.molecules.is_none_or(|m| m >= 0.0), || "number of molecules: must not be negative".into())?;
    check(d.pixel > 0.0 && d.pixel.is_finite(), || format!("pixel size {} m: must be positive", d.pixel))?;
    check(b.wavelength > 0.0 && b.wavelength.is_finite(), || format!("wavelength {} m: must be positive", b.wavelength))?;
    check(d.distance > 0.0, || format!("detector distance {} m: must be positive", d.distance))?;
    check(d.close_distance.is_none_or(|c| c > 0.0), || "close distance: must be positive".into())?;
    check(b.fluence >= 0.0 && b.flux >= 0.0 && b.exposure >= 0.0, || "fluence, flux and exposure: must not be negative".into())?;
    check(b.beamsize > 0.0, || format!("beam size {} m: must be positive", b.beamsize))?;
    check(b.dispersion >= 0.0, || "dispersion: must not be negative".into())?;
    for (name, dv) in [("horizontal divergence", &b.hdiv), ("vertical divergence", &b.vdiv)] {
        check(dv.range.is_none_or(|r| r >= 0.0) && dv.step.is_none_or(|s| s >= 0.0), || format!("{name}: must not be negative"))?;
    }
    Ok(())
}

/// Detector size and pixel counts (a pixel count fixes the size, then the count follows from
/// the size), and the rendered region.
fn pixel_grid(d: &Detector, roi: Option<[usize; 4]>) -> Result<Grid> {
    let mut size_x = d.size_x;
    let mut size_y = d.size_y;
    if let Some(n) = d.fpixels.filter(|&n| n > 0) {
        size_x = d.pixel * n as f64;
    }
    if let Some(n) = d.spixels.filter(|&n| n > 0) {
        size_y = d.pixel * n as f64;
    }
    let fp = (size_x / d.pixel).ceil();
    let sp = (size_y / d.pixel).ceil();
    check(fp >= 1.0 && sp >= 1.0 && fp * sp <= MAX_PIXELS as f64, || {
        format!("detector of {} x {} pixels: must have at least one and at most {MAX_PIXELS} pixels", fp, sp)
    })?;
    let (fpixels, spixels) = (fp as usize, sp as usize);
    let roi = match roi {
        Some(r) => {
            check(r[0] <= r[1] && r[2] <= r[3], || format!("-roi {} {} {} {}: the region is empty (min above max)", r[0], r[1], r[2], r[3]))?;
            r
        }
        None => [0, fpixels, 0, spixels],
    };
    Ok(Grid { size_x, size_y, fpixels, spixels, roi })
}

/// Beam centre defaults (the XDS origin, when given, fixes the foot of the normal).
fn beam_centre(d: &Detector, grid: &Grid) -> Centre {
    let xclose = d.orgx.map(|o| o * d.pixel).or(d.xclose).unwrap_or((grid.size_x - d.pixel) / 2.0);
    let yclose = d.orgy.map(|o| o * d.pixel).or(d.yclose).unwrap_or((grid.size_y + d.pixel) / 2.0);
    let xbeam = d.xbeam.unwrap_or(xclose);
    let ybeam = d.ybeam.unwrap_or(yclose);
    Centre { xclose, yclose, xbeam, ybeam }
}

/// The fluence (from flux and exposure when given), the sample clipped by the beam (with a
/// note for each clipping) and its molecule count or density.
fn sample_and_fluence(st: &Settings, notes: &mut Vec<String>) -> Result<Dose> {
    let (sa, b) = (&st.sample, &st.beam);
    let mut fluence = b.fluence;
    if b.flux != 0.0 && b.exposure > 0.0 {
        fluence = b.flux * b.exposure / b.beamsize / b.beamsize;
    }
    let (thickness, mut width, mut height) = (sa.thickness, sa.width, sa.height);
    if b.beamsize < width {
        notes.push(format!("WARNING: clipping sample width ({} m) to the beam size ({} m)", fmt(width), fmt(b.beamsize)));
        width = b.beamsize;
    }
    if b.beamsize < height {
        notes.push(format!("WARNING: clipping sample height ({} m) to the beam size ({} m)", fmt(height), fmt(b.beamsize)));
        height = b.beamsize;
    }
    let volume = thickness * width * height;
    let mut density = sa.density * 1e6; // g/m^3, as the reference holds it
    if let Some(m) = sa.molecules.filter(|&m| m != 0.0) {
        density = m / volume / AVOGADRO * sa.molecular_weight;
    }
    let molecules = volume * density * AVOGADRO / sa.molecular_weight;
    check(molecules.is_finite(), || "number of molecules: not finite (a zero sample volume with -molecules?)".into())?;
    Ok(Dose { fluence, thickness, width, height, density, molecules })
}

/// The unit beam, detector, polarization and two-theta axes, refusing ones with no direction.
fn axes(b: &Beam, d: &Detector) -> Result<Axes> {
    let beam = unit(b.direction, "-beam_vector")?;
    let fdet = unit(d.fast_axis, "-fdet_vector")?;
    let sdet = unit(d.slow_axis, "-sdet_vector")?;
    let (odet, om) = unitize(cross(fdet, sdet));
    check(om > 0.0, || "-fdet_vector and -sdet_vector: they are parallel".into())?;
    let polarization_axis = settled_unit(unit(b.polarization_axis, "-polar_vector")?);
    let (vert, _) = unitize(cross(beam, polarization_axis));
    let twotheta_axis = unit(d.twotheta_axis, "-twotheta_axis")?;
    Ok(Axes { beam, fdet, sdet, odet, polarization_axis, vert, twotheta_axis })
}

/// Divergence, dispersion and phi sampling, refusing more than a million sources.
fn sampling(st: &Settings) -> Result<Sampling> {
    let b = &st.beam;
    let (hdivrange, hdivstep, hdivsteps) = complete_divergence(&b.hdiv);
    let (vdivrange, vdivstep, vdivsteps) = complete_divergence(&b.vdiv);
    let (dispersion, dispstep, dispsteps) = complete_steps(b.dispersion, -1.0, b.dispsteps.unwrap_or(-1));
    check(hdivsteps * vdivsteps * dispsteps <= 1_000_000, || "divergence x dispersion: more than a million sources".into())?;
    let (osc, phistep, phisteps) = complete_phi(st.scan.osc, st.scan.phistep, st.scan.phisteps);
    Ok(Sampling { hdivrange, hdivstep, hdivsteps, vdivrange, vdivstep, vdivsteps, dispersion, dispstep, dispsteps, osc, phistep, phisteps })
}

/// Detector placement: rotates the detector, keeping the normal's foot (sample pivot) or the
/// beam spot (beam pivot) where it was put, then derives the other from the result.
fn place(d: &Detector, axes: &Axes, c: &Centre) -> Placement {
    let Axes { beam, mut fdet, mut sdet, mut odet, twotheta_axis, .. } = *axes;
    let [rx, ry, rz] = d.rotation;
    let mut ratio = dot(beam, rotate_xyz(odet, rx, ry, rz));
    if ratio == 0.0 {
        ratio = f64::MIN_POSITIVE;
    }
    let close0 = d.close_distance.unwrap_or(ratio * d.distance);
    let distance0 = close0 / ratio;
    let mut pix0 = [0.0; 3];
    if d.pivot == Pivot::Sample {
        pix0 = add(add(scale(fdet, -c.xclose), scale(sdet, -c.yclose)), scale(odet, close0));
        pix0 = rotate_xyz(pix0, rx, ry, rz);
        pix0 = rotate_axis(pix0, twotheta_axis, d.twotheta);
    }
    fdet = rotate_axis(rotate_xyz(fdet, rx, ry, rz), twotheta_axis, d.twotheta);
    sdet = rotate_axis(rotate_xyz(sdet, rx, ry, rz), twotheta_axis, d.twotheta);
    odet = rotate_axis(rotate_xyz(odet, rx, ry, rz), twotheta_axis, d.twotheta);
    if d.pivot == Pivot::Beam {
        pix0 = add(add(scale(fdet, -c.xbeam), scale(sdet, -c.ybeam)), scale(beam, distance0));
    }
    let xclose = -dot(pix0, fdet);
    let yclose = -dot(pix0, sdet);
    let close_distance = dot(pix0, odet);
    let spot = sub(scale(beam, close_distance / ratio), pix0);
    let xbeam = dot(fdet, spot);
    let ybeam = dot(sdet, spot);
    let distance = close_distance / ratio;
    Placement { fdet, sdet, odet, pix0, xbeam, ybeam, xclose, yclose, distance, close_distance }
}

/// The sources: from the source list when there is one, else the divergence and dispersion
/// grid; refuses an empty set.
fn sources(b: &Beam, axes: &Axes, sm: &Sampling) -> Result<SourceSet> {
    let from_source_list = !b.sources.is_empty();
    let (sources, divergence_offsets) = if from_source_list {
        (listed_sources(b, axes.beam)?, Vec::new())
    } else {
        divergence_sources(b, axes, sm)
    };
    check(!sources.is_empty(), || "no sources (the divergence grid kept no point)".into())?;
    Ok(SourceSet { sources, divergence_offsets, from_source_list })
}

/// The source list's rows, a missing position or wavelength taken from the beam.
fn listed_sources(b: &Beam, beam: V3) -> Result<Vec<Source>> {
    let mut sources = Vec::new();
    for (i, row) in b.sources.iter().enumerate() {
        let position = [
            row.x.unwrap_or(-b.source_distance * beam[0]),
            row.y.unwrap_or(-b.source_distance * beam[1]),
            row.z.unwrap_or(-b.source_distance * beam[2]),
        ];
        let wavelength = row.lambda.unwrap_or(b.wavelength);
        check(position.iter().any(|&c| c != 0.0), || format!("source {}: its position 0 0 0 gives no direction", i + 1))?;
        check(wavelength > 0.0 && wavelength.is_finite(), || format!("source {}: wavelength {wavelength} m must be positive", i + 1))?;
        sources.push(Source { position, weight: row.weight.unwrap_or(1.0), wavelength });
    }
    Ok(sources)
}

/// Sources over the divergence grid (inside an ellipse with -round_div) times the dispersion's
/// wavelengths, and the divergence offsets kept, in the reference's order.
fn divergence_sources(b: &Beam, axes: &Axes, sm: &Sampling) -> (Vec<Source>, Vec<(f64, f64)>) {
    let Sampling { hdivrange, hdivstep, hdivsteps, vdivrange, vdivstep, vdivsteps, dispersion, dispstep, dispsteps, .. } = *sm;
    let mut sources = Vec::new();
    let mut divergence_offsets = Vec::new();
    for h in 0..hdivsteps {
        for v in 0..vdivsteps {
            let hdiv = hdivstep * h as f64 - hdivrange / 2.0;
            let vdiv = vdivstep * v as f64 - vdivrange / 2.0;
            // an elliptical divergence (NaN tests for a single step keep the point)
            let mut test = (hdiv * hdiv - hdivstep * hdivstep / 4.0 * (1 - hdivsteps % 2) as f64) / hdivrange / hdivrange;
            test += (vdiv * vdiv - vdivstep * vdivstep / 4.0 * (1 - vdivsteps % 2) as f64) / vdivrange / vdivrange;
            if b.round_div && test * 4.0 > 1.1 {
                continue;
            }
            divergence_offsets.push((hdiv, vdiv));
            let start = scale(axes.beam, -b.source_distance);
            let turned = rotate_axis(rotate_axis(start, axes.polarization_axis, vdiv), axes.vert, hdiv);
            for k in 0..dispsteps {
                let wavelength = b.wavelength * (1.0 + dispstep * k as f64 - dispersion / 2.0);
                sources.push(Source { position: turned, weight: 1.0, wavelength });
            }
        }
    }
    (sources, divergence_offsets)
}

fn fmt(x: f64) -> String {
    crate::io::cfmt::fmt_g(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_geometry_matches_the_reference() {
        let mut st = Settings::default();
        st.detector.fpixels = Some(128);
        st.detector.spixels = Some(128);
        st.detector.distance = 0.06;
        let s = resolve(&st).unwrap();
        assert_eq!((s.fpixels, s.spixels), (128, 128));
        // the reference prints Xbeam=0.00635 Ybeam=0.00645, origin 0.06 0.00645 -0.00635
        assert!((s.xbeam - 0.00635).abs() < 1e-15 && (s.ybeam - 0.00645).abs() < 1e-15);
        assert!((s.pix0[0] - 0.06).abs() < 1e-15 && (s.pix0[1] - 0.00645).abs() < 1e-15 && (s.pix0[2] + 0.00635).abs() < 1e-15);
        assert_eq!(s.sources.len(), 1);
        assert_eq!(s.sources[0].position, [-10.0, -0.0, 0.0]);
        assert_eq!(s.roi, [0, 128, 0, 128]);
        assert!((s.molecules - 3.34563e16).abs() < 1e11);
    }

    #[test]
    fn step_completion_rules() {
        // range and steps: step = range/(steps-1); range and step: steps = ceil(range/step)
        assert_eq!(complete_steps(6e-3, -1.0, 4), (6e-3, 2e-3, 4));
        assert_eq!(complete_steps(0.4e-3, 0.1e-3, -1).2, 4);
        // nothing given, or a zero range: one step
        assert_eq!(complete_steps(-1.0, -1.0, -1), (0.0, 0.0, 1));
        assert_eq!(complete_steps(0.0, -1.0, 5), (0.0, 0.0, 1));
        // only the range: two steps at its ends
        assert_eq!(complete_steps(1e-3, -1.0, -1), (1e-3, 1e-3, 2));
    }

    #[test]
    fn round_divergence_keeps_13_of_25() {
        let mut st = Settings::default();
        st.beam.hdiv = Divergence { range: Some(1e-3), step: None, steps: Some(5) };
        st.beam.vdiv = Divergence { range: Some(1e-3), step: None, steps: Some(5) };
        assert_eq!(resolve(&st).unwrap().sources.len(), 13);
        st.beam.round_div = false;
        assert_eq!(resolve(&st).unwrap().sources.len(), 25);
    }

    #[test]
    fn impossible_values_are_errors() {
        let mut st = Settings::default();
        st.sample.thickness = -1e-3;
        assert!(resolve(&st).unwrap_err().0.contains("negative"));
        let mut st = Settings::default();
        st.sample.density = -1.0;
        assert!(resolve(&st).unwrap_err().0.contains("density"));
        let mut st = Settings::default();
        st.detector.fast_axis = st.detector.slow_axis;
        assert!(resolve(&st).unwrap_err().0.contains("parallel"));
    }

    #[test]
    fn phi_completion_for_the_header() {
        let rtd = crate::experiment::RTD;
        assert_eq!(complete_phi(None, None, None), (0.0, 0.0, 1));
        assert_eq!(complete_phi(None, Some(0.2 / rtd), None), (0.2 / rtd, 0.2 / rtd, 2));
        assert_eq!(complete_phi(None, None, Some(4)).0, 1.0 / rtd);
        assert_eq!(complete_phi(Some(0.5 / rtd), None, None), (0.5 / rtd, 0.25 / rtd, 2));
    }
}
