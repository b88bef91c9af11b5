//! The values image headers and flags give directly, before anything is derived from them:
//! the reference program's defaults, then the headers of -mask and -img, then the flags.

use super::{deg, mm};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::io::expt::ExptList;
use crate::io::smv::SmvImage;
use super::files::InputFiles;

/// An experiment list as read, with its file name for messages.
pub(super) struct Expt {
    pub file: String,
    pub list: ExptList,
}

/// Directly given values, in SI units (m, rad); `None` where neither a header nor a flag
/// gave one and the default depends on other values.
pub(super) struct Inputs {
    pub pixel_size: f64,
    pub distance: f64,
    pub close_distance: Option<f64>,
    pub detsize_f: f64,
    pub detsize_s: f64,
    /// Pixel counts; 0 when not given.
    pub fpixels: i64,
    pub spixels: i64,
    pub lambda0: f64,
    pub xbeam: Option<f64>,
    pub ybeam: Option<f64>,
    /// Beam centre in pixels (XDS ORGX/ORGY).
    pub orgx: Option<f64>,
    pub orgy: Option<f64>,
    pub phi0: f64,
    pub osc: Option<f64>,
    pub mask: Option<Vec<u16>>,
    /// Pixel counts of the mask's header, checked against the final detector.
    pub mask_dims: Option<(i64, i64)>,
    /// The DIALS experiment list of -expt.
    pub expt: Option<Expt>,
    /// Where the pixel size, wavelength, distance and close distance came from, for messages:
    /// a flag, or a header key of a file.
    origin: Origins,
}

#[derive(Default)]
struct Origins {
    pixel: Option<String>,
    lambda: Option<String>,
    distance: Option<String>,
    close_distance: Option<String>,
}

impl Inputs {
    /// Defaults, then headers (so flags override them), then flags; rejects impossible values.
    pub fn read(c: &Config, files: &InputFiles) -> Result<Inputs> {
        let mut inp = Inputs {
            pixel_size: 0.1e-3,
            distance: 100.0e-3,
            close_distance: None,
            detsize_f: 102.4e-3,
            detsize_s: 102.4e-3,
            fpixels: 0,
            spixels: 0,
            lambda0: 1.0e-10,
            xbeam: None,
            ybeam: None,
            orgx: None,
            orgy: None,
            phi0: 0.0,
            osc: None,
            mask: None,
            mask_dims: None,
            expt: None,
            origin: Origins::default(),
        };
        if let Some(path) = &c.detector.expt_file {
            let list = files.expt(path)?;
            inp.apply_expt(&list);
            inp.expt = Some(Expt { file: path.clone(), list });
        }
        if let Some(path) = &c.detector.mask_file {
            let img = files.mask(path)?;
            inp.apply_header(&img, true, path)?;
            inp.mask = Some(img.data);
            inp.mask_dims = Some((inp.fpixels, inp.spixels));
        }
        if let Some(path) = &c.detector.header_image {
            let img = files.img(path)?;
            inp.apply_header(&img, false, path)?;
        }
        inp.apply_settings(c);
        inp.validate()?;
        Ok(inp)
    }

    /// An experiment list's wavelength and the first image's rotation (headers and flags
    /// override them).
    fn apply_expt(&mut self, list: &crate::io::expt::ExptList) {
        if let Some(b) = &list.beam {
            self.lambda0 = b.wavelength / 1e10;
        }
        if let Some(s) = &list.scan {
            self.phi0 = deg(s.oscillation[0]);
            self.osc = Some(deg(s.oscillation[1]));
        }
    }

    /// An SMV header's geometry; a mask's BEAM_CENTER_Y counts from the other edge.
    fn apply_header(&mut self, img: &SmvImage, flip_ybeam: bool, file: &str) -> Result<()> {
        let keys = ["PIXEL_SIZE", "DISTANCE", "CLOSE_DISTANCE", "WAVELENGTH", "BEAM_CENTER_X", "BEAM_CENTER_Y", "ORGX", "ORGY", "PHI", "OSC_RANGE"];
        // a value that is not a number is the header's fault, whatever it would feed
        if let Some((key, v)) = keys.iter().find_map(|k| img.value_of(k).filter(|v| !v.is_finite()).map(|v| (k, v))) {
            return Err(Error::new(format!("{file}: header {key}={v} is not a finite number")));
        }
        let origin = |key: &str| Some(format!("{file}: header {key}"));
        self.fpixels = img.width as i64;
        self.spixels = img.height as i64;
        if let Some(v) = img.value_of("PIXEL_SIZE") {
            self.pixel_size = mm(v);
            self.origin.pixel = origin("PIXEL_SIZE");
        }
        self.detsize_f = self.pixel_size * self.fpixels as f64;
        self.detsize_s = self.pixel_size * self.spixels as f64;
        if let Some(v) = img.value_of("DISTANCE") {
            self.distance = mm(v);
            self.origin.distance = origin("DISTANCE");
        }
        if let Some(v) = img.value_of("CLOSE_DISTANCE") {
            self.close_distance = Some(mm(v));
            self.origin.close_distance = origin("CLOSE_DISTANCE");
        }
        if let Some(v) = img.value_of("WAVELENGTH") {
            self.lambda0 = v / 1e10;
            self.origin.lambda = origin("WAVELENGTH");
        }
        if let Some(v) = img.value_of("BEAM_CENTER_X") {
            self.xbeam = Some(mm(v));
        }
        if let Some(v) = img.value_of("BEAM_CENTER_Y") {
            self.ybeam = Some(if flip_ybeam { self.detsize_s - mm(v) } else { mm(v) });
        }
        if let Some(v) = img.value_of("ORGX") {
            self.orgx = Some(v);
        }
        if let Some(v) = img.value_of("ORGY") {
            self.orgy = Some(v);
        }
        if let Some(v) = img.value_of("PHI") {
            self.phi0 = deg(v);
        }
        if let Some(v) = img.value_of("OSC_RANGE") {
            self.osc = Some(deg(v));
        }
        Ok(())
    }

    /// The settings given directly (SI already), over defaults and headers.
    fn apply_settings(&mut self, c: &Config) {
        let d = &c.detector;
        if let Some(v) = d.pixel_size {
            self.pixel_size = v;
            self.origin.pixel = None;
        }
        if let Some(v) = d.distance {
            self.distance = v;
            self.origin.distance = None;
        }
        if let Some(v) = d.close_distance {
            self.close_distance = Some(v);
            self.origin.close_distance = None;
        }
        if let Some(v) = d.size[0] {
            self.detsize_f = v;
        }
        if let Some(v) = d.size[1] {
            self.detsize_s = v;
        }
        if let Some(v) = d.pixels[0] {
            self.fpixels = v;
        }
        if let Some(v) = d.pixels[1] {
            self.spixels = v;
        }
        if let Some(v) = c.beam.lambda {
            self.lambda0 = v;
            self.origin.lambda = None;
        }
        if let Some(v) = d.beam_center[0] {
            self.xbeam = Some(v);
        }
        if let Some(v) = d.beam_center[1] {
            self.ybeam = Some(v);
        }
        if let Some(v) = d.origin_pixels[0] {
            self.orgx = Some(v);
        }
        if let Some(v) = d.origin_pixels[1] {
            self.orgy = Some(v);
        }
        if let Some(v) = c.crystal.phi0 {
            self.phi0 = v;
        }
        if let Some(v) = c.crystal.osc {
            self.osc = Some(v);
        }
    }

    fn validate(&self) -> Result<()> {
        let from = |origin: &Option<String>, flag: &str| origin.clone().unwrap_or_else(|| flag.to_string());
        if !(self.pixel_size > 0.0) {
            return Err(Error::new(format!("{}: pixel size must be positive, got {} mm", from(&self.origin.pixel, "-pixel"), self.pixel_size * 1000.0)));
        }
        if !(self.lambda0 > 0.0) {
            return Err(Error::new(format!("{}: wavelength must be positive, got {} A", from(&self.origin.lambda, "-lambda"), self.lambda0 * 1e10)));
        }
        // flags are checked as they are parsed; these came from a header
        if let (Some(origin), false) = (&self.origin.distance, self.distance > 0.0) {
            return Err(Error::new(format!("{origin}: distance must be positive, got {} mm", self.distance * 1000.0)));
        }
        if let (Some(origin), Some(false)) = (&self.origin.close_distance, self.close_distance.map(|d| d > 0.0)) {
            return Err(Error::new(format!("{origin}: close distance must be positive, got {} mm", self.close_distance.unwrap_or(0.0) * 1000.0)));
        }
        if self.fpixels < 0 || self.spixels < 0 {
            return Err(Error::new("-detpixels: number of pixels must be positive"));
        }
        Ok(())
    }
}
