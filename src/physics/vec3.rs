//! Host-side 3-vector arithmetic in f64, used to set up the experiment exactly as the C
//! program does before anything becomes a tensor.

pub type V3 = [f64; 3];

#[inline]
pub fn dot(a: V3, b: V3) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

#[inline]
pub fn cross(a: V3, b: V3) -> V3 {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}

#[inline]
pub fn norm(a: V3) -> f64 {
    (a[0] * a[0] + a[1] * a[1] + a[2] * a[2]).sqrt()
}

#[inline]
pub fn scale(a: V3, s: f64) -> V3 {
    [a[0] * s, a[1] * s, a[2] * s]
}

#[inline]
pub fn add(a: V3, b: V3) -> V3 {
    [a[0] + b[0], a[1] + b[1], a[2] + b[2]]
}

#[inline]
pub fn sub(a: V3, b: V3) -> V3 {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}

/// Unit vector along `a` and the original length; a zero vector stays zero (as in the C code).
#[inline]
pub fn unitize(a: V3) -> (V3, f64) {
    let m = norm(a);
    if m != 0.0 {
        ([a[0] / m, a[1] / m, a[2] / m], m)
    } else {
        ([0.0; 3], 0.0)
    }
}

/// Rescale `a` to length `len` (a zero vector is treated as having length 1).
#[inline]
pub fn rescale(a: V3, len: f64) -> V3 {
    let mut m = norm(a);
    if m <= 0.0 {
        m = 1.0;
    }
    scale(a, len / m)
}

/// Rotate about the x, then y, then z axis (right-handed, radians); zero angles are skipped.
pub fn rotate_xyz(v: V3, rx: f64, ry: f64, rz: f64) -> V3 {
    let [mut x, mut y, mut z] = v;
    if rx != 0.0 {
        let (s, c) = rx.sin_cos();
        let ny = y * c - z * s;
        let nz = y * s + z * c;
        y = ny;
        z = nz;
    }
    if ry != 0.0 {
        let (s, c) = ry.sin_cos();
        let nx = x * c + z * s;
        let nz = -x * s + z * c;
        x = nx;
        z = nz;
    }
    if rz != 0.0 {
        let (s, c) = rz.sin_cos();
        let nx = x * c - y * s;
        let ny = x * s + y * c;
        x = nx;
        y = ny;
    }
    [x, y, z]
}

/// Rotation matrix equal to `rotate_xyz` (rows: output components).
pub fn rotation_xyz_matrix(rx: f64, ry: f64, rz: f64) -> [[f64; 3]; 3] {
    let c0 = rotate_xyz([1.0, 0.0, 0.0], rx, ry, rz);
    let c1 = rotate_xyz([0.0, 1.0, 0.0], rx, ry, rz);
    let c2 = rotate_xyz([0.0, 0.0, 1.0], rx, ry, rz);
    [[c0[0], c1[0], c2[0]], [c0[1], c1[1], c2[1]], [c0[2], c1[2], c2[2]]]
}

/// Rodrigues rotation of `v` by `phi` radians about the unit vector `axis`.
#[inline]
pub fn rotate_axis(v: V3, axis: V3, phi: f64) -> V3 {
    let (s, c) = phi.sin_cos();
    let d = dot(axis, v) * (1.0 - c);
    [
        axis[0] * d + v[0] * c + (-axis[2] * v[1] + axis[1] * v[2]) * s,
        axis[1] * d + v[1] * c + (axis[2] * v[0] - axis[0] * v[2]) * s,
        axis[2] * d + v[2] * c + (-axis[1] * v[0] + axis[0] * v[1]) * s,
    ]
}

/// Rotation matrix of `rotate_axis` (rows: output components).
pub fn axis_rotation_matrix(axis: V3, phi: f64) -> [[f64; 3]; 3] {
    let c0 = rotate_axis([1.0, 0.0, 0.0], axis, phi);
    let c1 = rotate_axis([0.0, 1.0, 0.0], axis, phi);
    let c2 = rotate_axis([0.0, 0.0, 1.0], axis, phi);
    [[c0[0], c1[0], c2[0]], [c0[1], c1[1], c2[1]], [c0[2], c1[2], c2[2]]]
}

/// Apply a row-major 3x3 matrix given as 9 numbers.
#[inline]
pub fn apply_umat(u: &[f64; 9], v: V3) -> V3 {
    [
        u[0] * v[0] + u[1] * v[1] + u[2] * v[2],
        u[3] * v[0] + u[4] * v[1] + u[5] * v[2],
        u[6] * v[0] + u[7] * v[1] + u[8] * v[2],
    ]
}

pub fn matmul3(a: &[[f64; 3]; 3], b: &[[f64; 3]; 3]) -> [[f64; 3]; 3] {
    let mut r = [[0.0; 3]; 3];
    for i in 0..3 {
        for j in 0..3 {
            r[i][j] = a[i][0] * b[0][j] + a[i][1] * b[1][j] + a[i][2] * b[2][j];
        }
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_relative_eq;

    #[test]
    fn rotations_agree_with_their_matrices() {
        let v = [0.3, -1.2, 2.5];
        let m = rotation_xyz_matrix(0.1, -0.4, 1.3);
        let r = rotate_xyz(v, 0.1, -0.4, 1.3);
        for i in 0..3 {
            assert_relative_eq!(dot(m[i], v), r[i], epsilon = 1e-14);
        }
        let axis = unitize([1.0, 2.0, -0.5]).0;
        let m = axis_rotation_matrix(axis, 0.7);
        let r = rotate_axis(v, axis, 0.7);
        for i in 0..3 {
            assert_relative_eq!(dot(m[i], v), r[i], epsilon = 1e-14);
        }
        // rotation about z by 90 degrees takes x to y
        let r = rotate_xyz([1.0, 0.0, 0.0], 0.0, 0.0, std::f64::consts::FRAC_PI_2);
        assert_relative_eq!(r[1], 1.0, epsilon = 1e-15);
        assert_relative_eq!(norm(rotate_axis(v, axis, 2.0)), norm(v), epsilon = 1e-14);
    }
}
