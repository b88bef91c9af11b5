//! An image-space stage (a linear operator on the rendered pixels' values, with its adjoint)
//! and a chain of them.

use std::sync::Arc;

/// A linear image-space operator on the rendered pixels' values.
pub trait ImageStage: Send + Sync + std::fmt::Debug {
    /// What the stage is, for messages.
    fn name(&self) -> &str;
    /// The staged values of the rendered pixels.
    fn forward(&self, values: &[f64]) -> Vec<f64>;
    /// The adjoint: for every x, y, `<forward(x), y> = <x, adjoint(y)>`.
    fn adjoint(&self, values: &[f64]) -> Vec<f64>;
}

/// Stages applied in order (the first one to the rendered image).
#[derive(Debug, Clone, Default)]
pub struct Pipeline {
    stages: Vec<Arc<dyn ImageStage>>,
}

impl Pipeline {
    /// The pipeline of these stages, applied in order.
    pub fn new(stages: Vec<Arc<dyn ImageStage>>) -> Self {
        Pipeline { stages }
    }

    /// No stage: the image as rendered.
    pub fn is_empty(&self) -> bool {
        self.stages.is_empty()
    }

    /// The stages' names, in order.
    pub fn names(&self) -> Vec<&str> {
        self.stages.iter().map(|s| s.name()).collect()
    }

    /// Every stage's forward, in order.
    pub fn forward(&self, values: &[f64]) -> Vec<f64> {
        self.stages.iter().fold(values.to_vec(), |v, s| s.forward(&v))
    }

    /// The adjoint of the whole pipeline: the stages' adjoints in reverse order.
    pub fn adjoint(&self, values: &[f64]) -> Vec<f64> {
        self.stages.iter().rev().fold(values.to_vec(), |v, s| s.adjoint(&v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Scales every value and shifts it one pixel along a line (not self-adjoint).
    #[derive(Debug)]
    struct ShiftScale(f64);

    impl ImageStage for ShiftScale {
        fn name(&self) -> &str {
            "shift"
        }
        fn forward(&self, v: &[f64]) -> Vec<f64> {
            (0..v.len()).map(|i| if i == 0 { 0.0 } else { self.0 * v[i - 1] }).collect()
        }
        fn adjoint(&self, v: &[f64]) -> Vec<f64> {
            (0..v.len()).map(|i| if i + 1 < v.len() { self.0 * v[i + 1] } else { 0.0 }).collect()
        }
    }

    /// Reverses the order of the values (its own adjoint).
    #[derive(Debug)]
    struct Reverse;

    impl ImageStage for Reverse {
        fn name(&self) -> &str {
            "reverse"
        }
        fn forward(&self, v: &[f64]) -> Vec<f64> {
            v.iter().rev().copied().collect()
        }
        fn adjoint(&self, v: &[f64]) -> Vec<f64> {
            self.forward(v)
        }
    }

    #[test]
    fn the_pipeline_adjoint_is_the_reversed_chain_of_adjoints() {
        let (w, h) = (6, 5);
        let p = Pipeline::new(vec![Arc::new(ShiftScale(2.0)), Arc::new(Reverse), Arc::new(ShiftScale(-0.5))]);
        let x: Vec<f64> = (0..w * h).map(|i| ((i * 31) % 13) as f64 - 6.0).collect();
        let y: Vec<f64> = (0..w * h).map(|i| ((i * 7) % 5) as f64 * 0.25 + 1.0).collect();
        let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(u, v)| u * v).sum::<f64>();
        let (lhs, rhs) = (dot(&p.forward(&x), &y), dot(&x, &p.adjoint(&y)));
        assert!((lhs - rhs).abs() <= 1e-12 * lhs.abs().max(1.0), "{lhs} {rhs}");
        assert_eq!(p.names(), vec!["shift", "reverse", "shift"]);
        assert_eq!(Pipeline::default().forward(&x), x);
    }
}
