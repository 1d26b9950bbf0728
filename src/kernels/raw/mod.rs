//! The raw slice kernels, one op family per file (burn-flex's layout): what the flex methods
//! call on the host.

pub(crate) mod conv;
pub(crate) mod depthwise;
pub(crate) mod edge;
pub(crate) mod gemm;
pub(crate) mod norm;
pub mod par;
pub(crate) mod pool;
pub(crate) mod simd;
