//! `nanobragg batch --plan FILE`: many images from one plan (a rotation series and/or stills in
//! random orientations with per-shot variations), on one process or on many under MPI.
//!
//! Rank 0 reads the plan, the spectrum files and the structure factors, checks the base
//! simulation, and broadcasts what it read; every rank then renders the shots numbered
//! rank + 1, rank + 1 + size, ... (round-robin) and writes their files. A shot's files are
//! written under a temporary name and renamed, and a shot whose files all exist is skipped, so
//! an interrupted batch is completed by running it again.

pub mod formats;
pub mod interrupt;
pub mod plan;
pub mod shots;
pub mod spectrum;

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::engine::comm::Comm;
use crate::error::{Error, Result};
use crate::experiment::Structure;
use crate::io::hkl::HklGrid;
use formats::{shot_path, ShotImage};
use crate::experiment::Experiment;
use plan::Checked;
use spectrum::Spectrum;

/// What rank 0 read, as every rank uses it.
struct Inputs {
    plan: Checked,
    base: crate::config::Config,
    base_energy_ev: f64,
    /// The base simulation's fluence (photons/m²), which a still's fluence factor scales.
    base_fluence: f64,
    structure: Structure,
    spectra: Vec<Spectrum>,
    /// SHA-256 of each spectrum file's bytes, as the shot records name them.
    spectrum_sha256: Vec<String>,
    /// The input files the base flags name, read once for every shot of this process.
    files: crate::experiment::InputFiles,
    /// Panels of the detector (an experiment list's; 1 for the C program's detector).
    panel_count: usize,
}

/// Run the plan at `path` on the processes of `comm` (one process without MPI): every shot
/// this process owns is rendered and written, shots already on disk are skipped.
pub fn run_plan(comm: &Comm, path: &str) -> Result<()> {
    // rank 0 reads the input files once and keeps them; the other ranks read them once each
    let mut root_files = None;
    let read = if comm.is_root() {
        read_inputs(path).map(|(bytes, files)| {
            root_files = Some(files);
            bytes
        })
    } else {
        Ok(vec![])
    };
    let bytes = comm.broadcast(read)?;
    let inputs = decode(path, &bytes, root_files)?;
    let out = PathBuf::from(&inputs.plan.out);
    if comm.is_root() {
        remove_stale_temporaries(&out);
    }
    comm.barrier();
    let started = Instant::now();
    let (rendered, skipped) = match render_mine(comm, &inputs, &out) {
        Ok(counts) => counts,
        Err(e) if comm.size() > 1 => comm.fail(&e),
        Err(e) => return Err(e),
    };
    let (rendered, skipped) = (comm.sum_count(rendered), comm.sum_count(skipped));
    if comm.is_root() {
        let secs = started.elapsed().as_secs_f64();
        let total = inputs.plan.total();
        println!(
            "{}/{total} shots in {}: {rendered} rendered, {skipped} already there, in {secs:.2} s ({:.3} shots/s on {} process{})",
            rendered + skipped,
            out.display(),
            rendered as f64 / secs.max(1e-9),
            comm.size(),
            if comm.size() == 1 { "" } else { "es" }
        );
    }
    Ok(())
}

/// Render and write this rank's shots; returns (rendered, skipped).
fn render_mine(comm: &Comm, inputs: &Inputs, out: &Path) -> Result<(u64, u64)> {
    let plan = &inputs.plan;
    let mine: Vec<usize> = (1..=plan.total()).filter(|n| (n - 1) % comm.size() == comm.rank()).collect();
    let threads = threads_per_rank(inputs.base.engine.threads);
    // the device is set up once for the whole run, whatever the number of shots
    let cfg = &inputs.base;
    let dev = if cfg.engine.gpu {
        let dev = crate::engine::device::Target::gpu(cfg.engine.gpu_software)?;
        crate::say!("{}GPU adapter: {}", comm.label(), dev.adapter_description().unwrap_or("?"));
        dev
    } else {
        crate::engine::device::Target::cpu(cfg.engine.precision.unwrap_or(crate::engine::device::Precision::F64))
    };
    let (mut rendered, mut skipped) = (0u64, 0u64);
    interrupt::begin(comm.label(), mine.len());
    let started = Instant::now();
    let mut last_line: Option<Instant> = None;
    for (k, &number) in mine.iter().enumerate() {
        if plan.formats.iter().all(|&f| formats::shot_files(out, number, f, inputs.panel_count).iter().all(|p| p.is_file())) {
            skipped += 1;
            interrupt::shot_done();
            continue;
        }
        render_shot(comm, inputs, number, out, threads, &dev)?;
        rendered += 1;
        let now = Instant::now();
        if k + 1 == mine.len() || last_line.is_none_or(|t| now.duration_since(t).as_secs_f64() >= 1.0) {
            last_line = Some(now);
            let rate = rendered as f64 / now.duration_since(started).as_secs_f64().max(1e-9);
            crate::say!("{}shot {number}: {}/{} done, {rate:.3} shots/s", comm.label(), k + 1, mine.len());
        }
    }
    Ok((rendered, skipped))
}

/// Worker threads of each process: as -threads says, else the cores shared among the processes
/// the launcher put on this node.
fn threads_per_rank(flag: Option<usize>) -> usize {
    if let Some(n) = flag.filter(|&n| n > 0) {
        return n;
    }
    let local = ["OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS", "SLURM_NTASKS_PER_NODE"]
        .iter()
        .find_map(|v| std::env::var(v).ok().and_then(|s| s.parse::<usize>().ok()))
        .unwrap_or(1)
        .max(1);
    (crate::engine::plan::resolve(0) / local).max(1)
}

/// Render shot `number` (every panel of its detector) and write its files. The shot is
/// rendered from its own run file read back, which the `settings` format writes.
fn render_shot(comm: &Comm, inputs: &Inputs, number: usize, out: &Path, threads: usize, dev: &crate::engine::device::Target) -> Result<()> {
    use crate::model::geometry::Geometry;
    use crate::engine::render::Renderer;
    let s = shots::settings(&inputs.plan, number, inputs.base_energy_ev);
    let (record, cfg) = shots::record(&inputs.base, &s, &inputs.spectra, inputs.base_fluence)?;
    let (exp, mut warnings) = shots::experiment(&cfg, &inputs.files, &inputs.structure)?;
    let n = exp.panel_count();
    let panels: Vec<Experiment> = if n == 1 { vec![] } else { (0..n).map(|i| exp.panel(i)).collect() };
    let panel_refs: Vec<&Experiment> = if n == 1 { vec![&exp] } else { panels.iter().collect() };
    let mut images = Vec::with_capacity(n);
    for p in &panel_refs {
        let mut renderer = Renderer::new(p, dev).with_threads(if cfg.engine.gpu { 1 } else { threads }).with_engine(cfg.engine.engine)?;
        if let Some(c) = cfg.engine.chunk_elements {
            renderer = renderer.with_chunk_elements(c);
        }
        let mut image = renderer.render_image_f32(&Geometry::from_experiment(p, dev), |_, _| {});
        crate::engine::amorphous::render::add_amorphous(p, &mut image);
        if let Some(i) = image.iter().position(|v| !v.is_finite()) {
            return Err(crate::simulation::not_finite(&cfg, p, &format!("shot {number}: pixel {i} of panel {}", p.detector.panel)));
        }
        images.push(image);
    }
    // one set of statistics (and so one integer scale) for the whole detector
    let image_refs: Vec<&[f32]> = images.iter().map(Vec::as_slice).collect();
    let (stats, _) = crate::io::products::detector_statistics(&panel_refs, &image_refs);
    let formats = &inputs.plan.formats;
    let adc = cfg.outputs.adc.unwrap_or(crate::io::products::DEFAULT_ADC);
    let brightness = formats::brightness(&panel_refs, &image_refs, formats, adc);
    if brightness.overloads > 0 {
        let w = format!(
            "WARNING: shot {number}: {} pixel{} above the full scale of {} photons (the brightest, {:.4e} photons, at panel {} fast {} slow {}): a smaller crystal or fluence keeps the shot in range",
            brightness.overloads,
            if brightness.overloads == 1 { "" } else { "s" },
            brightness.full_scale_photons,
            brightness.max_photons,
            brightness.max_at[0],
            brightness.max_at[1],
            brightness.max_at[2]
        );
        crate::say!("{}{w}", comm.label());
        warnings.push(w);
    }
    let spectrum = s.spectrum.and_then(|k| inputs.plan.stills.as_ref().map(|st| (st.spectra[k].as_str(), inputs.spectrum_sha256[k].as_str())));
    let shot = ShotImage { exp: &exp, panels: &panel_refs, images: &image_refs, stats: &stats, cfg: &cfg, record: &record, settings: &s, spectrum, formats, brightness: &brightness, warnings: &warnings };
    // the shot's files appear together (a rerun then skips it) or not at all, an interrupt
    // waiting until they have
    interrupt::uninterrupted(|| {
        crate::io::output_set(|| formats.iter().try_for_each(|&f| formats::write(f, &shot_path(out, number, f), &shot)))?;
        interrupt::shot_done();
        Ok(())
    })
}

/// Temporary files an interrupted run left in the output folder (`.shot_...tmpPID`).
fn remove_stale_temporaries(out: &Path) {
    let Ok(entries) = std::fs::read_dir(out) else { return };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with(".shot_") && name.contains(".tmp") {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// Rank 0: read and check the plan and everything it names; the bytes every rank decodes, and
/// the input files as read.
fn read_inputs(path: &str) -> Result<(Vec<u8>, crate::experiment::InputFiles)> {
    let text = std::fs::read_to_string(crate::io::osname::path(&path)).map_err(|e| Error::file(format!("{path}: cannot read plan: {e}")))?;
    let plan = plan::parse(path, &text)?;
    let cfg = crate::config::parse(&plan.flags).map_err(|e| e.context(format!("{path}: flags")))?;
    if matches!(cfg.crystal.misset, Some(crate::config::Misset::Random)) && cfg.crystal.misset_seed.is_none() {
        return Err(Error::new(format!("{path}: flags: -misset random needs -misset_seed in a batch (every shot must be reproducible)")));
    }
    let files = crate::experiment::InputFiles::read(&cfg).map_err(|e| e.context(format!("{path}: flags")))?;
    let (exp, notes) = crate::experiment::build_from(&cfg, &files, None).map_err(|e| e.context(format!("{path}: flags")))?;
    for w in &notes.warnings {
        crate::say!("{w}");
    }
    let o = &cfg.outputs;
    let cache_written = cfg.structure.hkl_file.is_some() && cfg.structure.dump_file.is_some();
    if [&o.float_file, &o.int_file, &o.noise_file, &o.pgm_file, &o.png_file, &o.cbf_file, &o.nexus_file, &o.expt_file].iter().any(|f| f.is_some()) || cache_written {
        crate::say!("WARNING: {path}: the output file flags of the base simulation are ignored; a batch writes <out>/shot_NNNNN.<ext> in the plan's formats");
    }
    let mut spectra = Vec::new();
    if let Some(st) = &plan.stills {
        if st.energy_jitter_ev.is_some() && cfg.beam.source_file.is_some() {
            return Err(Error::new(format!("{path}: stills.energy_jitter_ev shifts the base wavelength (-lambda or -energy), which a -sourcefile replaces")));
        }
        if st.energy_jitter_ev.is_some() && (cfg.beam.spectrum_file.is_some() || cfg.beam.spectrum_lines.is_some()) {
            return Err(Error::new(format!("{path}: stills.energy_jitter_ev shifts the base wavelength (-lambda or -energy), which a -spectrum replaces")));
        }
        if let (false, Some(flag)) = (st.spectra.is_empty(), cfg.beam.spectrum_file.as_ref().map(|_| "-spectrum").or(cfg.beam.spectrum_lines.as_ref().map(|_| "-spectrum_lines"))) {
            return Err(Error::new(format!("{path}: stills.spectra replaces the base's spectrum, but the base flags give one ({flag}): give one or the other")));
        }
        if !st.spectra.is_empty() && exp.beam.sources.len() > 1 {
            return Err(Error::new(format!("{path}: stills.spectra replaces the base's wavelength, but the base flags already give {} sources (divergence, dispersion or -sourcefile)", exp.beam.sources.len())));
        }
        for sp in &st.spectra {
            let text = std::fs::read_to_string(crate::io::osname::path(&sp)).map_err(|e| Error::file(format!("{sp}: cannot read spectrum: {e}")))?;
            Spectrum::parse(sp, &text)?;
            spectra.push((sp.clone(), text));
        }
    }
    prepare_output(&plan.out)?;
    Ok((encode(&text, &spectra, shots::energy_of(&exp), exp.beam.fluence, &exp.structure), files))
}

/// Create the output folder when missing and check that files can be made in it.
fn prepare_output(out: &str) -> Result<()> {
    let dir = &crate::io::osname::path(&out);
    if dir.exists() && !dir.is_dir() {
        return Err(Error::new(format!("{out}: output folder is a file")));
    }
    std::fs::create_dir_all(dir).map_err(|e| Error::file(format!("{out}: cannot create output folder: {e}")))?;
    let probe = dir.join(format!(".nanobragg_probe_{}", std::process::id()));
    std::fs::File::create(&probe).map_err(|e| Error::file(format!("{out}: output folder is not writable: {e}")))?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

/// The inputs as bytes: a JSON header (its length first, 8 bytes little-endian), then the
/// structure factors as raw float64 so every rank gets exactly rank 0's values.
fn encode(plan_text: &str, spectra: &[(String, String)], energy_ev: f64, fluence: f64, st: &Structure) -> Vec<u8> {
    let grid = st.grid.as_ref().map(|g| serde_json::json!([g.h_min, g.h_max, g.k_min, g.k_max, g.l_min, g.l_max, g.count]));
    let header = serde_json::json!({
        "plan": plan_text,
        "spectra": spectra,
        "energy_bits": energy_ev.to_bits(),
        "fluence_bits": fluence.to_bits(),
        "default_f_bits": st.default_f.to_bits(),
        "origin": st.origin,
        "grid": grid,
    })
    .to_string();
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(header.as_bytes());
    for v in st.grid.iter().flat_map(|g| &g.values) {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    bytes
}

fn decode(path: &str, bytes: &[u8], files: Option<crate::experiment::InputFiles>) -> Result<Inputs> {
    let bad = || Error::new("internal error: the broadcast inputs are malformed");
    let len = u64::from_le_bytes(bytes.get(..8).ok_or_else(bad)?.try_into().map_err(|_| bad())?) as usize;
    let header: serde_json::Value = serde_json::from_slice(bytes.get(8..8 + len).ok_or_else(bad)?).map_err(|_| bad())?;
    let text = header["plan"].as_str().ok_or_else(bad)?;
    let plan = plan::parse(path, text)?;
    let base = crate::config::parse(&plan.flags)?;
    let pairs = header["spectra"].as_array().ok_or_else(bad)?;
    let spectra = pairs.iter().map(|p| Spectrum::parse(p[0].as_str().unwrap_or(""), p[1].as_str().unwrap_or(""))).collect::<Result<Vec<_>>>()?;
    let spectrum_sha256 = pairs.iter().map(|p| crate::io::sha256_hex(p[1].as_str().unwrap_or("").as_bytes())).collect();
    let values: Vec<f64> = bytes[8 + len..].chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes"))).collect();
    let grid = match header["grid"].as_array() {
        Some(g) => {
            let n = |i: usize| g.get(i).and_then(|v| v.as_i64()).ok_or_else(bad);
            Some(std::sync::Arc::new(HklGrid { h_min: n(0)? as i32, h_max: n(1)? as i32, k_min: n(2)? as i32, k_max: n(3)? as i32, l_min: n(4)? as i32, l_max: n(5)? as i32, values, count: n(6)? as usize }))
        }
        None => None,
    };
    let bits = |k: &str| header[k].as_u64().map(f64::from_bits).ok_or_else(bad);
    let structure = Structure { default_f: bits("default_f_bits")?, grid, interpolate: false, origin: header["origin"].as_str().unwrap_or("").to_string() };
    // a process other than rank 0 reads the files the flags name itself, once
    let files = match files {
        Some(f) => f,
        None => crate::experiment::InputFiles::read(&base)?,
    };
    let panel_count = files.panel_count();
    Ok(Inputs { plan, base, base_energy_ev: bits("energy_bits")?, base_fluence: bits("fluence_bits")?, structure, spectra, spectrum_sha256, files, panel_count })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_survive_the_byte_encoding_exactly() {
        let grid = HklGrid { h_min: -1, h_max: 1, k_min: 0, k_max: 0, l_min: 0, l_max: 2, values: vec![0.1, 1.0 / 3.0, 7e-300, 12.5], count: 3 };
        let st = Structure { default_f: 0.7, grid: Some(std::sync::Arc::new(grid)), interpolate: true, origin: "x.hkl".into() };
        let plan = "flags = \"-cell 70 80 90 90 90 90 -default_F 1\"\nout = \"o\"\nformats = [\"float\"]\n[stills]\ncount = 2\n";
        let bytes = encode(plan, &[("s.txt".into(), "9000 1\n".into())], 1.0 / 3.0 * 3e4, 1.25e24, &st);
        let inputs = decode("p.toml", &bytes, None).unwrap();
        let g = inputs.structure.grid.unwrap();
        assert_eq!(g.values, vec![0.1, 1.0 / 3.0, 7e-300, 12.5]);
        assert_eq!((g.h_min, g.l_max, g.count), (-1, 2, 3));
        assert_eq!(inputs.base_energy_ev, 1.0 / 3.0 * 3e4);
        assert_eq!(inputs.spectra[0].lines, vec![(9000.0, 1.0)]);
        assert_eq!(inputs.base_fluence, 1.25e24);
        // the SHA-256 of the file's bytes, as sha256sum prints it
        assert_eq!(inputs.spectrum_sha256, ["5b5af3a467130cc60dd21099a289911cb716bb733093e66fef5d2830792cd3eb"]);
    }

    #[test]
    fn a_hundred_stills_read_each_input_file_once() {
        // -mat, -sourcefile and -mask are read once: with the files gone after the first read,
        // every shot still renders (a shot that re-read a file would fail)
        let dir = std::env::temp_dir().join(format!("nanobragg_batch_once_{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let (mat, src, mask) = (dir.join("a.mat"), dir.join("s.txt"), dir.join("m.img"));
        std::fs::write(&mat, "0.0125 0 0\n0 0.0125 0\n0 0 0.0125\n").unwrap();
        std::fs::write(&src, "-10 0 0 1 1e-10\n-10 0.001 0 0.5 1.01e-10\n").unwrap();
        let data: Vec<u16> = (0..64).map(|i| u16::from(i % 7 != 0)).collect();
        let mut header = crate::io::smv::smv_preamble();
        header.extend([crate::io::smv::smv_line("SIZE1", "8"), crate::io::smv::smv_line("SIZE2", "8")]);
        crate::io::smv::write_smv(&mask, &header, 8, 8, &data).unwrap();
        let out = dir.join("out");
        let plan_path = dir.join("p.toml");
        let flags = format!("-mat {} -sourcefile {} -mask {} -default_F 10 -N 3 -distance 50 -pixel 0.5 -detpixels 8", mat.display(), src.display(), mask.display());
        std::fs::write(&plan_path, format!("flags = \"{flags}\"\nout = \"{}\"\nformats = [\"float\"]\nseed = 5\n[stills]\ncount = 100\n", out.display())).unwrap();
        let plan_name = plan_path.to_string_lossy().to_string();
        let (bytes, files) = read_inputs(&plan_name).unwrap();
        let inputs = decode(&plan_name, &bytes, Some(files)).unwrap();
        for f in [&mat, &src, &mask] {
            std::fs::remove_file(f).unwrap();
        }
        let dev = crate::engine::device::Target::cpu(crate::engine::device::Precision::F64);
        for n in 1..=100 {
            render_shot(&Comm::single(), &inputs, n, &out, 1, &dev).unwrap();
        }
        let images: Vec<Vec<u8>> = (1..=100).map(|n| std::fs::read(shot_path(&out, n, plan::Format::Float)).unwrap()).collect();
        assert!(images.iter().all(|im| im.len() == 64 * 4));
        // the stills differ (random orientations) and the mask holds: masked pixels are 0
        assert_ne!(images[0], images[1]);
        let px = |im: &[u8], i: usize| f32::from_le_bytes(im[4 * i..4 * i + 4].try_into().unwrap());
        assert!(images.iter().all(|im| (0..64).filter(|i| i % 7 == 0).all(|i| px(im, i) == 0.0)));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
