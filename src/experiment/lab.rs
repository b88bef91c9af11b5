//! The DIALS laboratory frame. Everything inside nanobragg stays in the reference program's
//! frame; DIALS (and the files it reads) use a fixed rotation of it, the one the reference
//! writes as its DIALS_ORIGIN header: (x, y, z)_DIALS = (z, y, -x)_nanoBragg, so the
//! nanoBragg beam, travelling along +x, travels along DIALS -z.

use crate::vec3::V3;

/// A vector of the nanoBragg frame in the DIALS frame.
pub fn to_dials(v: V3) -> V3 {
    [v[2], v[1], -v[0]]
}

/// A vector of the DIALS frame in the nanoBragg frame (the inverse of [`to_dials`]).
pub fn from_dials(v: V3) -> V3 {
    [-v[2], v[1], v[0]]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_two_rotations_are_inverse_and_match_the_reference_origin_header() {
        let v = [0.1, -2.5, 7.0];
        assert_eq!(from_dials(to_dials(v)), v);
        assert_eq!(to_dials(from_dials(v)), v);
        // the reference's DIALS_ORIGIN is (pix0 . z, pix0 . y, pix0 . -x)
        assert_eq!(to_dials(v), [7.0, -2.5, -0.1]);
        // the beam: nanoBragg +x is DIALS -z
        assert_eq!(to_dials([1.0, 0.0, 0.0]), [0.0, 0.0, -1.0]);
    }
}
