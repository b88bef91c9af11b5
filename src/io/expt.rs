//! DIALS experiment lists (`.expt`, JSON): the subset a simulation needs, from the first
//! experiment of the list: its beam, every panel of its detector, its crystal, scan and
//! goniometer. Values stay in the DIALS frame and units (Angstrom, mm, degrees); the
//! experiment builder converts them. Every error is one line naming the file and the field.

use serde_json::Value;
use std::path::Path;

use crate::error::{Error, Result};
use crate::physics::vec3::{cross, dot, norm, V3};

/// Beam: wavelength (A), unit vector from the sample towards the source, polarization.
#[derive(Debug, Clone, PartialEq)]
pub struct ExptBeam {
    pub wavelength: f64,
    pub direction: V3,
    pub polarization_normal: Option<V3>,
    pub polarization_fraction: Option<f64>,
}

/// One flat detector panel as DIALS describes it (DIALS frame, mm): read from experiment lists
/// here and written to them, to CBF and to NeXus by `export`.
#[derive(Debug, Clone, PartialEq)]
pub struct PanelGeometry {
    pub name: String,
    /// Corner of the first pixel (mm): pixel (f, s) spans [f, f+1) x [s, s+1) pixel sizes
    /// along the fast and slow axes from here. nanoBragg's pix0 is that same corner.
    pub origin: V3,
    /// Unit fast and slow axes.
    pub fast_axis: V3,
    pub slow_axis: V3,
    /// Pixel size along fast and slow (mm).
    pub pixel_size: [f64; 2],
    /// Pixels along fast and slow.
    pub image_size: [usize; 2],
    /// Sensor thickness (mm) and attenuation coefficient (1/mm); zero when not modelled.
    pub thickness: f64,
    pub mu: f64,
    /// Lowest and highest valid pixel value of the images (as read, or as written).
    pub trusted_range: [f64; 2],
}

/// Scan: first and last image numbers, oscillation start and width (degrees).
#[derive(Debug, Clone, PartialEq)]
pub struct ExptScan {
    pub image_range: [i64; 2],
    pub oscillation: [f64; 2],
}

/// What a simulation takes from an experiment list, in the DIALS frame.
#[derive(Debug, Clone, PartialEq)]
pub struct ExptList {
    pub beam: Option<ExptBeam>,
    pub panels: Vec<PanelGeometry>,
    /// Real-space cell vectors a, b, c (A) in the laboratory frame at the scan's zero angle
    /// (the goniometer's fixed and setting rotations applied).
    pub crystal: Option<[V3; 3]>,
    pub scan: Option<ExptScan>,
    /// Rotation axis in the laboratory frame (setting rotation applied).
    pub rotation_axis: Option<V3>,
}

/// Largest |cos| between a panel's fast and slow axes accepted as orthogonal.
const ORTHOGONALITY_TOLERANCE: f64 = 1e-6;

/// Read the first experiment of a DIALS experiment list.
pub fn read_expt(path: &Path) -> Result<ExptList> {
    let bytes = super::read_all(path)?;
    let file = crate::io::osname::display(path);
    let root: Value = serde_json::from_slice(&bytes).map_err(|e| Error::new(format!("{file}: not a DIALS experiment list (JSON): {e}")))?;
    parse(&root).map_err(|msg| Error::new(format!("{file}: {msg}")))
}

type Field<T> = std::result::Result<T, String>;

/// The model the first experiment points to in the top-level list `key`: its index in the
/// experiment entry, or the first one when the file has no experiment entries.
fn model<'a>(root: &'a Value, key: &str) -> Field<Option<(String, &'a Value)>> {
    let first = root.get("experiment").and_then(|e| e.as_array()).and_then(|a| a.first());
    let index = match first.and_then(|e| e.get(key)) {
        Some(Value::Null) | None if first.is_some() => return Ok(None),
        Some(v) => v.as_u64().ok_or_else(|| format!("experiment[0].{key}: expected an index, got {v}"))? as usize,
        None => 0,
    };
    let list = match root.get(key) {
        None | Some(Value::Null) => return Ok(None),
        Some(l) => l.as_array().ok_or_else(|| format!("{key}: expected a list"))?,
    };
    match list.get(index) {
        Some(v) => Ok(Some((format!("{key}[{index}]"), v))),
        None if first.is_none() && list.is_empty() => Ok(None),
        None => Err(format!("{key}[{index}]: missing (the list has {} entries)", list.len())),
    }
}

fn parse(root: &Value) -> Field<ExptList> {
    if !root.is_object() {
        return Err("not a DIALS experiment list: expected a JSON object".into());
    }
    let (dname, det) = model(root, "detector")?.ok_or("detector: the experiment list has no detector")?;
    let panels_v = det.get("panels").ok_or_else(|| format!("{dname}.panels: missing"))?;
    let panels_a = panels_v.as_array().ok_or_else(|| format!("{dname}.panels: expected a list"))?;
    if panels_a.is_empty() {
        return Err(format!("{dname}.panels: the detector has no panels"));
    }
    let mut panels = panels_a.iter().enumerate().map(|(i, p)| panel(p, &format!("{dname}.panels[{i}]"))).collect::<Field<Vec<_>>>()?;
    // with a hierarchy, each panel's frame is given relative to the group that holds it
    if let Some(h) = det.get("hierarchy").filter(|h| !h.is_null()) {
        let mut parents = vec![None; panels.len()];
        walk(h, &format!("{dname}.hierarchy"), &PlaneFrame::LAB, &mut parents)?;
        for (i, (p, parent)) in panels.iter_mut().zip(parents).enumerate() {
            let parent = parent.ok_or_else(|| format!("{dname}.hierarchy: panel {i} is in no group"))?;
            let global = parent.compose(&PlaneFrame { origin: p.origin, fast: p.fast_axis, slow: p.slow_axis });
            (p.origin, p.fast_axis, p.slow_axis) = (global.origin, global.fast, global.slow);
        }
    }
    for (i, p) in panels.iter().enumerate() {
        let cos = dot(p.fast_axis, p.slow_axis);
        if cos.abs() > ORTHOGONALITY_TOLERANCE {
            return Err(format!("{dname}.panels[{i}]: fast_axis and slow_axis are not orthogonal (angle {:.4} degrees)", cos.clamp(-1.0, 1.0).acos().to_degrees()));
        }
    }
    let beam = match model(root, "beam")? {
        Some((name, b)) => Some(beam(b, &name)?),
        None => None,
    };
    let (fixed, setting, rotation_axis) = match model(root, "goniometer")? {
        Some((name, g)) => goniometer(g, &name)?,
        None => (IDENTITY, IDENTITY, None),
    };
    let crystal = match model(root, "crystal")? {
        Some((name, c)) => {
            let v = |k: &str| vector(c, &format!("{name}.{k}"), k);
            let abc = [v("real_space_a")?, v("real_space_b")?, v("real_space_c")?];
            if dot(abc[0], cross(abc[1], abc[2])).abs() < 1e-9 {
                return Err(format!("{name}.real_space_a/b/c: the cell vectors are degenerate (zero volume)"));
            }
            let sf = mat_mul(&setting, &fixed);
            Some(abc.map(|x| mat_vec(&sf, x)))
        }
        None => None,
    };
    let scan = match model(root, "scan")? {
        Some((name, s)) => Some(scan(s, &name)?),
        None => None,
    };
    Ok(ExptList { beam, panels, crystal, scan, rotation_axis })
}

fn number(v: &Value, path: &str, key: &str) -> Field<f64> {
    let x = v.get(key).ok_or_else(|| format!("{path}: missing"))?;
    x.as_f64().filter(|f| f.is_finite()).ok_or_else(|| format!("{path}: expected a number, got {x}"))
}

fn numbers<const N: usize>(v: &Value, path: &str, key: &str) -> Field<[f64; N]> {
    let x = v.get(key).ok_or_else(|| format!("{path}: missing"))?;
    let a = x.as_array().filter(|a| a.len() == N).ok_or_else(|| format!("{path}: expected {N} numbers, got {x}"))?;
    let mut out = [0.0; N];
    for (o, e) in out.iter_mut().zip(a) {
        *o = e.as_f64().filter(|f| f.is_finite()).ok_or_else(|| format!("{path}: expected {N} numbers, got {x}"))?;
    }
    Ok(out)
}

fn vector(v: &Value, path: &str, key: &str) -> Field<V3> {
    numbers::<3>(v, path, key)
}

/// A direction: non-zero, returned as a unit vector.
fn axis(v: &Value, path: &str, key: &str) -> Field<V3> {
    let a = vector(v, path, key)?;
    let n = norm(a);
    if n == 0.0 {
        return Err(format!("{path}: zero vector (a direction is needed)"));
    }
    Ok(a.map(|x| x / n))
}

fn optional<T>(v: &Value, key: &str, read: impl FnOnce() -> Field<T>) -> Field<Option<T>> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(_) => read().map(Some),
    }
}

fn panel(p: &Value, path: &str) -> Field<PanelGeometry> {
    let at = |k: &str| format!("{path}.{k}");
    let fast_axis = axis(p, &at("fast_axis"), "fast_axis")?;
    let slow_axis = axis(p, &at("slow_axis"), "slow_axis")?;
    let pixel_size = numbers::<2>(p, &at("pixel_size"), "pixel_size")?;
    if !(pixel_size[0] > 0.0 && pixel_size[1] > 0.0) {
        return Err(format!("{}: pixel sizes must be positive, got {} {}", at("pixel_size"), pixel_size[0], pixel_size[1]));
    }
    let size = numbers::<2>(p, &at("image_size"), "image_size")?;
    if !size.iter().all(|&s| s >= 1.0 && s.fract() == 0.0 && s <= 1e6) || size[0] * size[1] > 4e9 {
        return Err(format!("{}: expected two whole numbers of pixels (at most 4e9 in all), got {} {}", at("image_size"), size[0], size[1]));
    }
    let non_negative = |k: &str| -> Field<f64> {
        let v = optional(p, k, || number(p, &at(k), k))?.unwrap_or(0.0);
        if v < 0.0 {
            return Err(format!("{}: must not be negative, got {v}", at(k)));
        }
        Ok(v)
    };
    // the SMV images' 16-bit range when the list gives none
    let trusted_range = optional(p, "trusted_range", || numbers::<2>(p, &at("trusted_range"), "trusted_range"))?.unwrap_or([-1.0, 65535.0]);
    Ok(PanelGeometry {
        name: p.get("name").and_then(|n| n.as_str()).unwrap_or("").to_string(),
        origin: vector(p, &at("origin"), "origin")?,
        fast_axis,
        slow_axis,
        pixel_size,
        image_size: [size[0] as usize, size[1] as usize],
        thickness: non_negative("thickness")?,
        mu: non_negative("mu")?,
        trusted_range,
    })
}

/// A plane's frame: origin and unit fast and slow axes (its normal is fast x slow).
#[derive(Debug, Clone, PartialEq)]
struct PlaneFrame {
    origin: V3,
    fast: V3,
    slow: V3,
}

impl PlaneFrame {
    const LAB: PlaneFrame = PlaneFrame { origin: [0.0; 3], fast: [1.0, 0.0, 0.0], slow: [0.0, 1.0, 0.0] };

    /// A frame given relative to this one, in laboratory coordinates: its vectors are
    /// components along this frame's fast, slow and normal axes, its origin is offset from
    /// this frame's origin (as DIALS composes a detector hierarchy).
    fn compose(&self, local: &PlaneFrame) -> PlaneFrame {
        let normal = cross(self.fast, self.slow);
        let turn = |v: V3| -> V3 { std::array::from_fn(|k| self.fast[k] * v[0] + self.slow[k] * v[1] + normal[k] * v[2]) };
        let o = turn(local.origin);
        PlaneFrame { origin: std::array::from_fn(|k| self.origin[k] + o[k]), fast: turn(local.fast), slow: turn(local.slow) }
    }
}

/// Record, for every panel a hierarchy node holds, the laboratory frame of the group around it.
fn walk(node: &Value, path: &str, parent: &PlaneFrame, parents: &mut [Option<PlaneFrame>]) -> Field<()> {
    if let Some(i) = node.get("panel") {
        let i = i.as_u64().map(|i| i as usize).filter(|&i| i < parents.len()).ok_or_else(|| format!("{path}.panel: expected a panel index below {}, got {i}", parents.len()))?;
        if parents[i].is_some() {
            return Err(format!("{path}.panel: panel {i} appears twice"));
        }
        parents[i] = Some(parent.clone());
        return Ok(());
    }
    let at = |k: &str| format!("{path}.{k}");
    let local = PlaneFrame { origin: vector(node, &at("origin"), "origin")?, fast: axis(node, &at("fast_axis"), "fast_axis")?, slow: axis(node, &at("slow_axis"), "slow_axis")? };
    let frame = parent.compose(&local);
    let children = match node.get("children") {
        None | Some(Value::Null) => return Ok(()),
        Some(c) => c.as_array().ok_or_else(|| format!("{}: expected a list", at("children")))?,
    };
    for (k, child) in children.iter().enumerate() {
        walk(child, &format!("{}[{k}]", at("children")), &frame, parents)?;
    }
    Ok(())
}

fn beam(b: &Value, path: &str) -> Field<ExptBeam> {
    let at = |k: &str| format!("{path}.{k}");
    let wavelength = number(b, &at("wavelength"), "wavelength")?;
    if !(wavelength > 0.0) {
        return Err(format!("{}: must be positive, got {wavelength}", at("wavelength")));
    }
    let fraction = optional(b, "polarization_fraction", || number(b, &at("polarization_fraction"), "polarization_fraction"))?;
    if let Some(f) = fraction.filter(|f| !(0.0..=1.0).contains(f)) {
        return Err(format!("{}: must be between 0 and 1, got {f}", at("polarization_fraction")));
    }
    Ok(ExptBeam {
        wavelength,
        direction: axis(b, &at("direction"), "direction")?,
        polarization_normal: optional(b, "polarization_normal", || axis(b, &at("polarization_normal"), "polarization_normal"))?,
        polarization_fraction: fraction,
    })
}

type M3 = [[f64; 3]; 3];
const IDENTITY: M3 = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];

fn mat_vec(m: &M3, v: V3) -> V3 {
    std::array::from_fn(|i| dot(m[i], v))
}

fn mat_mul(a: &M3, b: &M3) -> M3 {
    std::array::from_fn(|i| std::array::from_fn(|j| (0..3).map(|k| a[i][k] * b[k][j]).sum()))
}

/// Fixed and setting rotations (row-major, identity when absent) and the rotation axis in the
/// laboratory frame. A multi-axis goniometer gives its scan axis.
fn goniometer(g: &Value, path: &str) -> Field<(M3, M3, Option<V3>)> {
    let at = |k: &str| format!("{path}.{k}");
    let matrix = |k: &str| -> Field<M3> {
        Ok(optional(g, k, || numbers::<9>(g, &at(k), k))?.map(|m| [[m[0], m[1], m[2]], [m[3], m[4], m[5]], [m[6], m[7], m[8]]]).unwrap_or(IDENTITY))
    };
    let (fixed, setting) = (matrix("fixed_rotation")?, matrix("setting_rotation")?);
    let axis_v = if g.get("rotation_axis").is_some() {
        Some(axis(g, &at("rotation_axis"), "rotation_axis")?)
    } else if let Some(axes) = g.get("axes").and_then(|a| a.as_array()) {
        let k = g.get("scan_axis").and_then(|s| s.as_u64()).unwrap_or(0) as usize;
        let a = axes.get(k).ok_or_else(|| format!("{}: no axis {k}", at("axes")))?;
        let wrapped = serde_json::json!({ "axis": a });
        Some(axis(&wrapped, &format!("{}[{k}]", at("axes")), "axis")?)
    } else {
        None
    };
    Ok((fixed, setting, axis_v.map(|a| mat_vec(&setting, a))))
}

fn scan(s: &Value, path: &str) -> Field<ExptScan> {
    let at = |k: &str| format!("{path}.{k}");
    let oscillation = numbers::<2>(s, &at("oscillation"), "oscillation")?;
    let range = optional(s, "image_range", || numbers::<2>(s, &at("image_range"), "image_range"))?.unwrap_or([1.0, 1.0]);
    Ok(ExptScan { image_range: [range[0] as i64, range[1] as i64], oscillation })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one_panel(extra: &str) -> String {
        format!(
            r#"{{"experiment":[{{"beam":0,"detector":0}}],
              "beam":[{{"direction":[0,0,2],"wavelength":1.5,"polarization_normal":[0,1,0],"polarization_fraction":0.999}}],
              "detector":[{{"panels":[{{"name":"p0","origin":[-10,12,-100],"fast_axis":[1,0,0],"slow_axis":[0,-1,0],
                 "pixel_size":[0.1,0.1],"image_size":[40,30],"thickness":0.32,"mu":3.9{extra}}}]}}]}}"#
        )
    }

    #[test]
    fn reads_beam_and_panel() {
        let e = parse(&serde_json::from_str(&one_panel("")).unwrap()).unwrap();
        let b = e.beam.unwrap();
        assert_eq!(b.direction, [0.0, 0.0, 1.0]);
        assert_eq!(b.wavelength, 1.5);
        assert_eq!(e.panels.len(), 1);
        assert_eq!(e.panels[0].image_size, [40, 30]);
        assert_eq!(e.panels[0].origin, [-10.0, 12.0, -100.0]);
        assert!(e.crystal.is_none() && e.scan.is_none());
    }

    #[test]
    fn a_hierarchy_places_panels_in_their_groups_frames() {
        // root turned 90 degrees about z and moved; a group inside it; the panel inside that
        let text = one_panel("").replace(
            "}]}]}",
            r#"}],
              "hierarchy":{"origin":[1,2,-100],"fast_axis":[0,1,0],"slow_axis":[-1,0,0],
                "children":[{"origin":[5,0,0.5],"fast_axis":[1,0,0],"slow_axis":[0,1,0],"children":[{"panel":0}]}]}}]}"#,
        );
        let text = text.replace("\"origin\":[-10,12,-100]", "\"origin\":[1,1,0]").replace("\"slow_axis\":[0,-1,0]", "\"slow_axis\":[0,1,0]");
        let e = parse(&serde_json::from_str(&text).unwrap()).unwrap();
        let p = &e.panels[0];
        assert_eq!(p.origin, [0.0, 8.0, -99.5]);
        assert_eq!(p.fast_axis, [0.0, 1.0, 0.0]);
        assert_eq!(p.slow_axis, [-1.0, 0.0, 0.0]);
        let orphan = text.replace("{\"panel\":0}", "");
        assert!(parse(&serde_json::from_str(&orphan).unwrap()).unwrap_err().contains("panel 0 is in no group"));
    }

    #[test]
    fn bad_panels_name_the_field() {
        let msg = |s: &str| parse(&serde_json::from_str(s).unwrap()).unwrap_err();
        let zero = one_panel("").replace("\"fast_axis\":[1,0,0]", "\"fast_axis\":[0,0,0]");
        assert!(msg(&zero).starts_with("detector[0].panels[0].fast_axis: zero vector"), "{}", msg(&zero));
        let skew = one_panel("").replace("\"slow_axis\":[0,-1,0]", "\"slow_axis\":[0.1,-1,0]");
        assert!(msg(&skew).contains("not orthogonal"), "{}", msg(&skew));
        assert!(msg(r#"{"beam":[]}"#).starts_with("detector: the experiment list has no detector"));
        let no_size = one_panel("").replace("\"image_size\":[40,30],", "");
        assert_eq!(msg(&no_size), "detector[0].panels[0].image_size: missing");
    }
}
