//! 3-vector fields of tensors for the batched tensor path.

use burn::tensor::Tensor;

// Note: scalar factors are applied with `*`, never `/`: burn's backward of a division by a
// host scalar rounds the reciprocal to single precision.

/// A 3-vector field: three tensors of the same shape holding x, y and z.
#[derive(Clone, Debug)]
pub struct Vec3T<const D: usize> {
    pub x: Tensor<D>,
    pub y: Tensor<D>,
    pub z: Tensor<D>,
}

impl<const D: usize> Vec3T<D> {
    pub fn new(x: Tensor<D>, y: Tensor<D>, z: Tensor<D>) -> Self {
        Self { x, y, z }
    }
    pub fn dot(&self, o: &Self) -> Tensor<D> {
        self.x.clone() * o.x.clone() + self.y.clone() * o.y.clone() + self.z.clone() * o.z.clone()
    }
    pub fn cross(&self, o: &Self) -> Self {
        Self {
            x: self.y.clone() * o.z.clone() - self.z.clone() * o.y.clone(),
            y: self.z.clone() * o.x.clone() - self.x.clone() * o.z.clone(),
            z: self.x.clone() * o.y.clone() - self.y.clone() * o.x.clone(),
        }
    }
    pub fn add(&self, o: &Self) -> Self {
        Self { x: self.x.clone() + o.x.clone(), y: self.y.clone() + o.y.clone(), z: self.z.clone() + o.z.clone() }
    }
    pub fn sub(&self, o: &Self) -> Self {
        Self { x: self.x.clone() - o.x.clone(), y: self.y.clone() - o.y.clone(), z: self.z.clone() - o.z.clone() }
    }
    pub fn mul(&self, s: &Tensor<D>) -> Self {
        Self { x: self.x.clone() * s.clone(), y: self.y.clone() * s.clone(), z: self.z.clone() * s.clone() }
    }
    pub fn div(&self, s: &Tensor<D>) -> Self {
        Self { x: self.x.clone() / s.clone(), y: self.y.clone() / s.clone(), z: self.z.clone() / s.clone() }
    }
    pub fn norm(&self) -> Tensor<D> {
        self.dot(self).sqrt()
    }
    /// The vector of a generic term's three components.
    pub fn from_arr([x, y, z]: [Tensor<D>; 3]) -> Self {
        Self { x, y, z }
    }
    /// The components as an array, for the generic terms.
    pub fn arr(&self) -> [Tensor<D>; 3] {
        [self.x.clone(), self.y.clone(), self.z.clone()]
    }
    pub fn map<const D2: usize>(&self, f: impl Fn(Tensor<D>) -> Tensor<D2>) -> Vec3T<D2> {
        Vec3T { x: f(self.x.clone()), y: f(self.y.clone()), z: f(self.z.clone()) }
    }
}
