//! Polarization factor of Thomson scattering for a partly polarized beam (Kahn et al. 1982).

use super::constants::POLAR_PROJ_SQ_BELOW;
use super::real::Real;
use super::vec3::{cross, dot as dot3, unitize, V3};

fn dot<T: Real>(a: &[T; 3], b: &[T; 3]) -> T {
    a[0].clone() * b[0].clone() + a[1].clone() * b[1].clone() + a[2].clone() * b[2].clone()
}

/// 1/2 (1 + cos^2 2theta - K cos 2psi sin^2 2theta) for incident unit vector `inc`, its E and B
/// unit vectors `e_in`, `b_in`, and diffracted unit vector `d`. cos 2psi is written from the
/// projections of `d` on E and B, so 2theta = 0 (psi undefined) is a removable point.
pub fn polarization<T: Real>(kahn: T, inc: &[T; 3], e_in: &[T; 3], b_in: &[T; 3], d: &[T; 3]) -> T {
    let c2t = dot(inc, d);
    let c2 = c2t.clone() * c2t;
    let s2 = c2.clone().neg() + 1.0;
    let e = dot(d, e_in);
    let b = dot(d, b_in);
    let (e2, b2) = (e.clone() * e, b.clone() * b);
    let r2 = e2.clone() + b2.clone();
    let tiny = r2.less_than(POLAR_PROJ_SQ_BELOW);
    let cos2psi = T::choose(tiny.clone(), || r2.clone() * 0.0 + 1.0, || (e2.clone() - b2.clone()) / r2.clone().fill(tiny.clone(), 1.0));
    (c2 + 1.0 - cos2psi * s2 * kahn) * 0.5
}

/// The same factor written as the C programs write it, for host f64 only: psi from atan2 of the
/// projections, then cos 2psi. [`polarization`] forms cos 2psi from the projections directly
/// (smooth at 2theta = 0, differentiable), which differs in the last bits; nonBragg's noise
/// images are bit-identical to the C's only with this form. Like the reference it normalises
/// `incident` and `diffracted` in place (the next source's scattering vector then uses the
/// renormalised direction).
pub fn polarization_as_reference(kahn: f64, incident: &mut V3, diffracted: &mut V3, axis: V3) -> f64 {
    *incident = unitize(*incident).0;
    *diffracted = unitize(*diffracted).0;
    let cos2theta = dot3(*incident, *diffracted);
    let cos2theta_sqr = cos2theta * cos2theta;
    let sin2theta_sqr = 1.0 - cos2theta_sqr;
    let mut psi = 0.0;
    if kahn != 0.0 {
        let (b_in, _) = unitize(cross(axis, *incident));
        let (e_in, _) = unitize(cross(*incident, b_in));
        let e_out = dot3(*diffracted, e_in);
        let b_out = dot3(*diffracted, b_in);
        psi = -b_out.atan2(e_out);
    }
    0.5 * (1.0 + cos2theta_sqr - kahn * (2.0 * psi).cos() * sin2theta_sqr)
}
