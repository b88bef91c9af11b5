//! The forward render on a GPU: the lattice-sum kernel ([`kernel::lattice_sum`]) launched over
//! the whole detector in as few dispatches as the device's limits allow.
//!
//! The kernel's inputs are the fused CPU kernel's ([`KernelValues`]: the geometry is computed
//! once per render, from the parameter graph), uploaded once; the structure-factor table lives
//! in device memory. Each launch writes one block of rows into its own device buffer, sized
//! from the device's largest allocation and dispatch grid; all blocks stay on the device until
//! the image is read back to be written.

pub mod kernel;

use burn::cubecl::client::Client;
use burn::cubecl::prelude::*;
use burn::cubecl::server::Handle;

use crate::engine::device::GpuAdapter;
use crate::experiment::Experiment;
use crate::engine::fused::KernelValues;
use crate::config::Shape;
use kernel::{geo, KernelConfig, SOURCE_STRIDE};

/// Units per cube (workgroup) of the kernel.
const CUBE_UNITS: u32 = 256;

/// Kernel launches issued by this process (for the dispatch counts in reports/benchmarks.md).
static LAUNCHES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Number of lattice-sum kernel launches issued so far in this process.
pub fn launches() -> usize {
    LAUNCHES.load(std::sync::atomic::Ordering::Relaxed)
}

/// Environment variable: when set (not empty or 0), a GPU render reports on stderr how many
/// kernels it dispatched (every CubeCL launch of the process during the render, burn's
/// included); set to `time`, it also times every kernel (each launch then waits for the
/// previous one) and reports the summed kernel time.
pub const COUNT_DISPATCHES_ENV: &str = "NANOBRAGG_COUNT_DISPATCHES";

#[derive(Default)]
struct LaunchCounter {
    launches: std::sync::atomic::AtomicUsize,
    timed: bool,
    /// Summed kernel time (ns) and whether every measurement came from device timestamps.
    nanos: std::sync::atomic::AtomicU64,
    host_timed: std::sync::atomic::AtomicBool,
}

impl burn::cubecl::logging::LaunchObserver for LaunchCounter {
    fn launched(&self, _kernel: &'static str) {
        self.launches.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
    fn timing(&self) -> burn::cubecl::logging::TimingRequest {
        if self.timed {
            burn::cubecl::logging::TimingRequest::Resolved
        } else {
            burn::cubecl::logging::TimingRequest::None
        }
    }
    fn timed(&self, _kernel: &'static str, duration: burn::cubecl::logging::Duration, method: burn::cubecl::logging::TimingMethod) {
        self.nanos.fetch_add(duration.as_nanos() as u64, std::sync::atomic::Ordering::Relaxed);
        if method != burn::cubecl::logging::TimingMethod::Device {
            self.host_timed.store(true, std::sync::atomic::Ordering::Relaxed);
        }
    }
}

/// Run `f`, reporting on stderr the kernel dispatches it caused (and their time) when
/// [`COUNT_DISPATCHES_ENV`] asks for it.
pub fn with_dispatch_count<R>(what: &str, f: impl FnOnce() -> R) -> R {
    let asked = std::env::var(COUNT_DISPATCHES_ENV).unwrap_or_default();
    if asked.is_empty() || asked == "0" {
        return f();
    }
    let counter = std::sync::Arc::new(LaunchCounter { timed: asked == "time", ..Default::default() });
    let guard = burn::cubecl::logging::LaunchObservation::new(counter.clone());
    let out = f();
    drop(guard);
    let ordering = std::sync::atomic::Ordering::Relaxed;
    crate::say!("GPU dispatches ({what}): {}", counter.launches.load(ordering));
    if counter.timed {
        let how = if counter.host_timed.load(ordering) { "host-timed around each kernel" } else { "device timestamps" };
        crate::say!("GPU kernel time ({what}): {:.3} ms ({how})", counter.nanos.load(ordering) as f64 * 1e-6);
    }
    out
}

/// Values per tensor of a batch on the GPU's batched (autodiff) path, chosen from the device's
/// limits rather than the CPU's cache-sized default: the largest that (a) a single allocation
/// holds, (b) one 1-D dispatch of 256-unit cubes covers, (c) keeps ~512 float32 tensors of the
/// batch (the autodiff graph of one chunk) within a quarter of the device memory when it is
/// known, and (d) stays at most 2^22 (4 Mi), well clear of the wrong results one software
/// driver gave above ~17.7 Mi values per tensor. `NANOBRAGG_GPU_BATCH_ELEMENTS` overrides it.
pub fn batch_elements(adapter: &GpuAdapter) -> usize {
    if let Some(n) = std::env::var("NANOBRAGG_GPU_BATCH_ELEMENTS").ok().and_then(|v| v.parse::<usize>().ok()).filter(|&n| n > 0) {
        return n;
    }
    if adapter.software {
        // a software driver computes on the host's cores: larger batches measured no faster
        // (gradients of all parameters at 1024^2: 32.8 s at 64 Ki values, 29.8 s at 4 Mi) and
        // cost host memory (0.23 GB against 1.5 GB)
        return crate::engine::plan::DEFAULT_CHUNK_ELEMENTS;
    }
    let client = client_for(adapter);
    let props = client.properties();
    let by_page = (props.memory.max_page_size / 4) as usize;
    let by_dispatch = props.hardware.max_cube_count.0 as usize * CUBE_UNITS as usize;
    let by_memory = props.memory.max_memory().map(|m| (m / 4 / 4 / 512) as usize).unwrap_or(usize::MAX);
    by_page.min(by_dispatch).min(by_memory).min(1 << 22).max(1 << 16)
}

/// One experiment's kernel inputs, uploaded to the device.
pub struct GpuLatticeSum<'a> {
    exp: &'a Experiment,
    client: Client,
    cfg: KernelConfig,
    geo: Handle,
    sources: Handle,
    cells: Handle,
    fgrid: Handle,
    fgrid_len: usize,
    n_sources: u32,
    n_orient: u32,
    /// Largest number of pixels one launch computes.
    max_pixels: usize,
}

/// The CubeCL client of the adapter burn uses for the same target.
fn client_for(adapter: &GpuAdapter) -> Client {
    use burn::cubecl::wgpu::{WgpuBackend, WgpuDevice, WgpuDeviceKind};
    use burn::tensor::DeviceKind;
    let kind = match adapter.kind {
        DeviceKind::DiscreteGpu(i) => WgpuDeviceKind::DiscreteGpu(i),
        DeviceKind::IntegratedGpu(i) => WgpuDeviceKind::IntegratedGpu(i),
        DeviceKind::VirtualGpu(i) => WgpuDeviceKind::VirtualGpu(i),
        DeviceKind::Cpu => WgpuDeviceKind::Cpu,
        DeviceKind::Existing(id) => WgpuDeviceKind::Existing(id),
        DeviceKind::DefaultDevice => WgpuDeviceKind::DefaultDevice,
    };
    burn::cubecl::Device::Wgpu(WgpuDevice::new(kind).on(WgpuBackend::Auto)).client()
}

fn f32_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// The scalar inputs in the kernel's layout ([`kernel::geo`]).
fn scalars(exp: &Experiment, v: &KernelValues) -> Vec<f32> {
    let mut g = vec![0.0f64; geo::LEN];
    v.put_fixed(&mut g[..geo::FIXED]);
    let put3 = |g: &mut Vec<f64>, at: usize, x: [f64; 3]| g[at..at + 3].copy_from_slice(&x);
    put3(&mut g, geo::BEAM, exp.detector.beam_vector);
    let cr = &exp.crystal;
    for (i, s) in [cr.a_star, cr.b_star, cr.c_star].iter().enumerate() {
        put3(&mut g, geo::STARS + 3 * i, *s);
    }
    g[geo::DMIN] = exp.sampling.dmin;
    g[geo::THICKSTEP] = exp.detector.thickstep;
    g[geo::MU] = exp.detector.mu;
    g[geo::FUDGE] = cr.fudge;
    g[geo::DEFAULT_F] = exp.structure.default_f;
    if let Some(grid) = &exp.structure.grid {
        let r = [grid.h_min, grid.h_max, grid.k_min, grid.k_max, grid.l_min, grid.l_max];
        for (i, x) in r.iter().enumerate() {
            g[geo::GRID + i] = *x as f64;
        }
    }
    g.iter().map(|&x| x as f32).collect()
}

impl<'a> GpuLatticeSum<'a> {
    /// Upload the inputs `v` of experiment `exp` to `adapter`.
    pub fn new(exp: &'a Experiment, v: &KernelValues, adapter: &GpuAdapter) -> Self {
        let client = client_for(adapter);
        let beam = &exp.beam;
        let mut src = Vec::with_capacity(beam.sources.len() * SOURCE_STRIDE);
        for (k, s) in beam.sources.iter().enumerate() {
            let (inc, e_in, b_in) = s.incident_frame(beam.polar_vector);
            src.extend(inc.iter().chain(&e_in).chain(&b_in).map(|&x| x as f32));
            src.extend([v.lambda[k] as f32, v.factor[k] as f32]);
        }
        let cells: Vec<f32> = v.cells.iter().flat_map(|c| c.iter().flatten().map(|&x| x as f32)).collect();
        let st = &exp.structure;
        let grid_mode = match (&st.grid, v.fgrid.is_empty()) {
            (Some(_), false) if st.interpolate => 2,
            (Some(_), false) => 1,
            _ => 0,
        };
        let table: Vec<f32> = if grid_mode > 0 { v.fgrid.iter().map(|&x| x as f32).collect() } else { vec![0.0] };
        let det = &exp.detector;
        let smp = &exp.sampling;
        let cfg = KernelConfig {
            shape: match exp.crystal.shape {
                Shape::Square => 0,
                Shape::Round => 1,
                Shape::Gauss => 2,
                Shape::Tophat => 3,
            },
            oversample: smp.oversample.max(1) as u32,
            layers: det.thicksteps.max(1) as u32,
            curved: det.curved,
            point_pixel: det.point_pixel,
            thick: det.thick > 0.0,
            oversample_thick: smp.oversample_thick,
            oversample_polar: smp.oversample_polar,
            oversample_omega: smp.oversample_omega,
            nopolar: beam.nopolar,
            dmin: smp.dmin > 0.0,
            grid: grid_mode,
            background: v.bg != 0.0,
        };
        let props = client.properties();
        let (max_x, max_y, _) = props.hardware.max_cube_count;
        let by_memory = (props.memory.max_page_size / 4) as usize;
        let by_grid = max_x as usize * max_y.max(1) as usize * CUBE_UNITS as usize;
        // never more than 2^31 pixels: the kernel indexes with u32
        let max_pixels = by_memory.min(by_grid).min(1 << 31).max(CUBE_UNITS as usize);
        GpuLatticeSum {
            exp,
            geo: client.create_from_slice(&f32_bytes(&scalars(exp, v))),
            sources: client.create_from_slice(&f32_bytes(&src)),
            cells: client.create_from_slice(&f32_bytes(&cells)),
            fgrid: client.create_from_slice(&f32_bytes(&table)),
            fgrid_len: table.len(),
            client,
            cfg,
            n_sources: beam.sources.len() as u32,
            n_orient: v.cells.len() as u32,
            max_pixels,
        }
    }

    /// Values of `pixels` (indices slow * fpixels + fast, all rendered), in that order.
    pub fn pixels(&self, pixels: &[usize]) -> Vec<f64> {
        let det = &self.exp.detector;
        let mut image = vec![0.0; det.fpixels * det.spixels];
        self.render(|_, _| {}, |idx, v| image[idx] = v);
        pixels.iter().map(|&i| image[i]).collect()
    }

    /// Pixels per launch (at most).
    pub fn max_pixels(&self) -> usize {
        self.max_pixels
    }

    /// Render the ROI box: launch the kernel on blocks of rows, then read every block back and
    /// hand each rendered pixel's value to `sink(index, value)` (masked pixels are skipped).
    pub fn render(&self, mut progress: impl FnMut(usize, usize), mut sink: impl FnMut(usize, f64)) {
        let det = &self.exp.detector;
        let clip = |lo: i64, hi: i64, n: usize| (lo.max(0) as usize, hi.min(n as i64 - 1));
        let (fa, fb) = clip(det.roi[0], det.roi[1], det.fpixels);
        let (sa, sb) = clip(det.roi[2], det.roi[3], det.spixels);
        if fb < fa as i64 || sb < sa as i64 {
            return;
        }
        let (fb, sb) = (fb as usize, sb as usize);
        let width = fb - fa + 1;
        let rows_per_block = (self.max_pixels / width).max(1);
        let mut blocks = Vec::new();
        let mut s = sa;
        while s <= sb {
            let rows = rows_per_block.min(sb + 1 - s);
            blocks.push((s, rows, self.launch(fa, s, width, rows)));
            s += rows;
        }
        let total = width * (sb + 1 - sa);
        let mut done = 0;
        for (s0, rows, handle) in blocks {
            let bytes = self.client.read_one_unchecked(handle);
            for (i, chunk) in bytes.chunks_exact(4).take(rows * width).enumerate() {
                let idx = (s0 + i / width) * det.fpixels + fa + i % width;
                if self.exp.is_rendered(idx) {
                    sink(idx, f32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]) as f64);
                }
            }
            done += rows * width;
            progress(done, total);
        }
    }

    /// Launch the kernel on `rows` rows of `width` pixels from (`f0`, `s0`); returns the
    /// device buffer its values go to.
    fn launch(&self, f0: usize, s0: usize, width: usize, rows: usize) -> Handle {
        let count = width * rows;
        let out = self.client.empty(count * 4);
        let (max_x, _, _) = self.client.properties().hardware.max_cube_count;
        let cubes = count.div_ceil(CUBE_UNITS as usize);
        let cx = cubes.min(max_x as usize).max(1);
        let cy = cubes.div_ceil(cx).max(1);
        let arg = |h: &Handle, n: usize| unsafe { BufferArg::from_raw_parts(h.clone(), n) };
        LAUNCHES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        kernel::lattice_sum::launch(
            &self.client,
            CubeCount::Static(cx as u32, cy as u32, 1),
            CubeDim::new_1d(CUBE_UNITS),
            arg(&self.geo, geo::LEN),
            arg(&self.sources, self.n_sources as usize * SOURCE_STRIDE),
            arg(&self.cells, self.n_orient as usize * 9),
            arg(&self.fgrid, self.fgrid_len),
            arg(&out, count),
            f0 as u32,
            s0 as u32,
            width as u32,
            count as u32,
            self.n_sources,
            self.n_orient,
            self.cfg,
        );
        out
    }
}
