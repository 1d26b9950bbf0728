//! The autodiff nodes: forward on the inner backend, backward by the gradient kernels.

use super::Kernels;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::{Autodiff, AutodiffBackend, Backend, TensorMetadata, tensor::FloatTensor};
use burn::tensor::Slice;

/// The autodiff node: forward on the inner backend, backward by the two gradient kernels, each
/// only for the inputs that need a gradient (the ± passes of the NASI step hold the weights as
/// constants and need ∇x only).
impl<B: Backend + Kernels, C: CheckpointStrategy> Kernels for Autodiff<B, C> {
    fn conv(x: FloatTensor<Self>, w: FloatTensor<Self>, stride: usize) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct ConvNode {
            stride: usize,
        }

        impl<B: Backend + Kernels> Backward<B, 2> for ConvNode {
            type State = (FloatTensor<B>, FloatTensor<B>);

            fn backward(
                self,
                ops: Ops<Self::State, 2>,
                grads: &mut Gradients,
                _: &mut Checkpointer,
            ) {
                let [node_x, node_w] = ops.parents;
                let dy = grads.consume::<B>(&ops.node);
                let (x, w) = ops.state;
                if let Some(node) = node_w {
                    let dw = B::conv_w_backward(x.clone(), w.clone(), dy.clone(), self.stride);
                    grads.register::<B>(node.id, dw);
                }
                if let Some(node) = node_x {
                    let dx = B::conv_x_backward(x, dy, w, self.stride);
                    grads.register::<B>(node.id, dx);
                }
            }
        }

        let prep = ConvNode { stride }
            .prepare::<C>([x.node(), w.node()])
            .compute_bound()
            .stateful();
        let (x, w) = (Self::inner(x), Self::inner(w));
        match prep {
            OpsKind::Tracked(prep) => {
                let y = B::conv(x.clone(), w.clone(), stride);
                prep.finish((x, w), y)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::conv(x, w, stride)),
        }
    }

    fn dwconv(
        x: FloatTensor<Self>,
        w: FloatTensor<Self>,
        stride: usize,
        dil: usize,
    ) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct DwConvNode {
            stride: usize,
            dil: usize,
        }

        impl<B: Backend + Kernels> Backward<B, 2> for DwConvNode {
            type State = (FloatTensor<B>, FloatTensor<B>);

            fn backward(
                self,
                ops: Ops<Self::State, 2>,
                grads: &mut Gradients,
                _: &mut Checkpointer,
            ) {
                let [node_x, node_w] = ops.parents;
                let dy = grads.consume::<B>(&ops.node);
                let (x, w) = ops.state;
                let (s, d) = (self.stride, self.dil);
                if let Some(node) = node_w {
                    let dw = B::dwconv_w_backward(x.clone(), w.clone(), dy.clone(), s, d);
                    grads.register::<B>(node.id, dw);
                }
                if let Some(node) = node_x {
                    grads.register::<B>(node.id, B::dwconv_x_backward(x, dy, w, s, d));
                }
            }
        }

        let prep = DwConvNode { stride, dil }
            .prepare::<C>([x.node(), w.node()])
            .compute_bound()
            .stateful();
        let (x, w) = (Self::inner(x), Self::inner(w));
        match prep {
            OpsKind::Tracked(prep) => {
                let y = B::dwconv(x.clone(), w.clone(), stride, dil);
                prep.finish((x, w), y)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::dwconv(x, w, stride, dil)),
        }
    }

    fn avg2x2(x: FloatTensor<Self>) -> FloatTensor<Self> {
        linear::<B, C>(x, B::avg2x2, B::avg2x2_transpose)
    }

    fn avg2x2_transpose(dy: FloatTensor<Self>) -> FloatTensor<Self> {
        Self::from_inner(B::avg2x2_transpose(Self::inner(dy)))
    }

    fn avg3x3(x: FloatTensor<Self>) -> FloatTensor<Self> {
        linear::<B, C>(x, B::avg3x3, B::avg3x3_transpose)
    }

    /// The value only (not tracked), as for every backward kernel below.
    fn avg3x3_transpose(dy: FloatTensor<Self>) -> FloatTensor<Self> {
        Self::from_inner(B::avg3x3_transpose(Self::inner(dy)))
    }

    fn mix4(
        a: FloatTensor<Self>,
        b: FloatTensor<Self>,
        c: FloatTensor<Self>,
        d: FloatTensor<Self>,
        w: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct MixNode;

        impl<B: Backend + Kernels> Backward<B, 5> for MixNode {
            /// The four terms and the weights.
            type State = ([FloatTensor<B>; 4], FloatTensor<B>);

            fn backward(
                self,
                ops: Ops<Self::State, 5>,
                grads: &mut Gradients,
                _: &mut Checkpointer,
            ) {
                let dy = grads.consume::<B>(&ops.node);
                let ([a, b, c, d], w) = ops.state;
                let [pa, pb, pc, pd, pw] = ops.parents;
                if let Some(node) = pw {
                    grads.register::<B>(node.id, B::mix4_dots(a, b, c, d, dy.clone()));
                }
                for (i, parent) in [pa, pb, pc, pd].into_iter().enumerate() {
                    if let Some(node) = parent {
                        grads.register::<B>(node.id, B::scale_by(dy.clone(), w.clone(), i));
                    }
                }
            }
        }

        let prep = MixNode
            .prepare::<C>([a.node(), b.node(), c.node(), d.node(), w.node()])
            .compute_bound()
            .stateful();
        let xs = [a, b, c, d].map(Self::inner);
        let w = Self::inner(w);
        let [a, b, c, d] = xs.clone();
        let y = B::mix4(a, b, c, d, w.clone());
        match prep {
            OpsKind::Tracked(prep) => prep.finish((xs, w), y),
            OpsKind::UnTracked(prep) => prep.finish(y),
        }
    }

    fn mix4_dots(
        a: FloatTensor<Self>,
        b: FloatTensor<Self>,
        c: FloatTensor<Self>,
        d: FloatTensor<Self>,
        dy: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        let [a, b, c, d, dy] = [a, b, c, d, dy].map(Self::inner);
        Self::from_inner(B::mix4_dots(a, b, c, d, dy))
    }

    fn scale_by(dy: FloatTensor<Self>, w: FloatTensor<Self>, i: usize) -> FloatTensor<Self> {
        Self::from_inner(B::scale_by(Self::inner(dy), Self::inner(w), i))
    }

    fn positive(x: FloatTensor<Self>) -> FloatTensor<Self> {
        Self::from_inner(B::positive(Self::inner(x)))
    }

    fn mask_mul(x: FloatTensor<Self>, m: FloatTensor<Self>) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct MaskNode;

        impl<B: Backend + Kernels> Backward<B, 1> for MaskNode {
            /// The mask.
            type State = FloatTensor<B>;

            fn backward(
                self,
                ops: Ops<Self::State, 1>,
                grads: &mut Gradients,
                _: &mut Checkpointer,
            ) {
                let dy = grads.consume::<B>(&ops.node);
                if let [Some(node)] = ops.parents {
                    grads.register::<B>(node.id, B::mask_mul(dy, ops.state));
                }
            }
        }

        let prep = MaskNode.prepare::<C>([x.node()]).compute_bound().stateful();
        let (x, m) = (Self::inner(x), Self::inner(m));
        match prep {
            OpsKind::Tracked(prep) => prep.finish(m.clone(), B::mask_mul(x, m)),
            OpsKind::UnTracked(prep) => prep.finish(B::mask_mul(x, m)),
        }
    }

    fn max3x3_argmax(x: FloatTensor<Self>, stride: usize) -> FloatTensor<Self> {
        Self::from_inner(B::max3x3_argmax(Self::inner(x), stride))
    }

    fn pick(x: FloatTensor<Self>, at: FloatTensor<Self>) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct PickNode {
            h: usize,
            w: usize,
        }

        impl<B: Backend + Kernels> Backward<B, 1> for PickNode {
            /// The positions.
            type State = FloatTensor<B>;

            fn backward(
                self,
                ops: Ops<Self::State, 1>,
                grads: &mut Gradients,
                _: &mut Checkpointer,
            ) {
                let dy = grads.consume::<B>(&ops.node);
                if let [Some(node)] = ops.parents {
                    let dx = B::pick_transpose(ops.state, dy, self.h, self.w);
                    grads.register::<B>(node.id, dx);
                }
            }
        }

        let shape = x.shape();
        let (h, w) = (shape[2], shape[3]);
        let prep = PickNode { h, w }
            .prepare::<C>([x.node()])
            .compute_bound()
            .stateful();
        let (x, at) = (Self::inner(x), Self::inner(at));
        match prep {
            OpsKind::Tracked(prep) => prep.finish(at.clone(), B::pick(x, at)),
            OpsKind::UnTracked(prep) => prep.finish(B::pick(x, at)),
        }
    }

    fn pick_transpose(
        at: FloatTensor<Self>,
        dy: FloatTensor<Self>,
        h: usize,
        w: usize,
    ) -> FloatTensor<Self> {
        Self::from_inner(B::pick_transpose(Self::inner(at), Self::inner(dy), h, w))
    }

    fn norm(x: FloatTensor<Self>) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct BatchNormNode;

        impl<B: Backend + Kernels> Backward<B, 1> for BatchNormNode {
            type State = FloatTensor<B>;

            fn backward(
                self,
                ops: Ops<Self::State, 1>,
                grads: &mut Gradients,
                _: &mut Checkpointer,
            ) {
                let dy = grads.consume::<B>(&ops.node);
                if let [Some(node)] = ops.parents {
                    grads.register::<B>(node.id, B::norm_backward(ops.state, dy));
                }
            }
        }

        let prep = BatchNormNode
            .prepare::<C>([x.node()])
            .compute_bound()
            .stateful();
        let x = Self::inner(x);
        match prep {
            OpsKind::Tracked(prep) => {
                let y = B::norm(x.clone());
                prep.finish(x, y)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::norm(x)),
        }
    }

    /// The value only (not tracked): NASI needs first-order gradients.
    fn norm_backward(x: FloatTensor<Self>, dy: FloatTensor<Self>) -> FloatTensor<Self> {
        Self::from_inner(B::norm_backward(Self::inner(x), Self::inner(dy)))
    }

    /// One node for the whole relaxed edge: the conv outputs' statistics are taken once in the
    /// forward and kept for the backward, which makes one reduction pass for ∇w and both norms.
    fn edge(
        x: FloatTensor<Self>,
        y1: FloatTensor<Self>,
        y3: FloatTensor<Self>,
        p: FloatTensor<Self>,
        w: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct EdgeNode;

        impl<B: Backend + Kernels> Backward<B, 5> for EdgeNode {
            /// `[x, y1, y3, p]`, the weights, and the statistics of y1 and y3.
            type State = ([FloatTensor<B>; 4], FloatTensor<B>, [FloatTensor<B>; 2]);

            fn backward(
                self,
                ops: Ops<Self::State, 5>,
                grads: &mut Gradients,
                _: &mut Checkpointer,
            ) {
                let dy = grads.consume::<B>(&ops.node);
                let ([x, y1, y3, p], w, [s1, s3]) = ops.state;
                let [px, p1, p3, pp, pw] = ops.parents;
                let sums = B::edge_sums(
                    x,
                    y1.clone(),
                    y3.clone(),
                    p,
                    s1.clone(),
                    s3.clone(),
                    dy.clone(),
                );
                for (parent, y, s, i) in [(p1, y1, s1, 1), (p3, y3, s3, 2)] {
                    if let Some(node) = parent {
                        let g = B::edge_norm_grad(y, s, sums.clone(), w.clone(), dy.clone(), i);
                        grads.register::<B>(node.id, g);
                    }
                }
                for (parent, i) in [(px, 0), (pp, 3)] {
                    if let Some(node) = parent {
                        grads.register::<B>(node.id, B::scale_by(dy.clone(), w.clone(), i));
                    }
                }
                if let Some(node) = pw {
                    grads.register::<B>(node.id, B::float_slice(sums, &[Slice::from(0..4)]));
                }
            }
        }

        let prep = EdgeNode
            .prepare::<C>([x.node(), y1.node(), y3.node(), p.node(), w.node()])
            .compute_bound()
            .stateful();
        let xs = [x, y1, y3, p].map(Self::inner);
        let w = Self::inner(w);
        let stats = [&xs[1], &xs[2]].map(|y| B::norm_stats(y.clone()));
        let [x, y1, y3, p] = xs.clone();
        let [s1, s3] = stats.clone();
        let y = B::edge_with(x, y1, y3, p, w.clone(), s1, s3);
        match prep {
            OpsKind::Tracked(prep) => prep.finish((xs, w, stats), y),
            OpsKind::UnTracked(prep) => prep.finish(y),
        }
    }

    fn norm_stats(y: FloatTensor<Self>) -> FloatTensor<Self> {
        Self::from_inner(B::norm_stats(Self::inner(y)))
    }

    fn edge_with(
        x: FloatTensor<Self>,
        y1: FloatTensor<Self>,
        y3: FloatTensor<Self>,
        p: FloatTensor<Self>,
        w: FloatTensor<Self>,
        s1: FloatTensor<Self>,
        s3: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        let [x, y1, y3, p, w, s1, s3] = [x, y1, y3, p, w, s1, s3].map(Self::inner);
        Self::from_inner(B::edge_with(x, y1, y3, p, w, s1, s3))
    }

    fn edge_sums(
        x: FloatTensor<Self>,
        y1: FloatTensor<Self>,
        y3: FloatTensor<Self>,
        p: FloatTensor<Self>,
        s1: FloatTensor<Self>,
        s3: FloatTensor<Self>,
        dy: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        let [x, y1, y3, p, s1, s3, dy] = [x, y1, y3, p, s1, s3, dy].map(Self::inner);
        Self::from_inner(B::edge_sums(x, y1, y3, p, s1, s3, dy))
    }

    fn edge_norm_grad(
        y: FloatTensor<Self>,
        s: FloatTensor<Self>,
        sums: FloatTensor<Self>,
        w: FloatTensor<Self>,
        dy: FloatTensor<Self>,
        i: usize,
    ) -> FloatTensor<Self> {
        let [y, s, sums, w, dy] = [y, s, sums, w, dy].map(Self::inner);
        Self::from_inner(B::edge_norm_grad(y, s, sums, w, dy, i))
    }
}

/// A linear map of one tensor (the average pools) as an autodiff node: `forward(x)`, with
/// `adjoint(dy)` as its backward (a linear map's gradient is its adjoint; no state needed).
fn linear<B: Backend + Kernels, C: CheckpointStrategy>(
    x: FloatTensor<Autodiff<B, C>>,
    forward: fn(FloatTensor<B>) -> FloatTensor<B>,
    adjoint: fn(FloatTensor<B>) -> FloatTensor<B>,
) -> FloatTensor<Autodiff<B, C>> {
    #[derive(Debug)]
    struct LinearNode<B: Backend> {
        adjoint: fn(FloatTensor<B>) -> FloatTensor<B>,
    }

    impl<B: Backend> Backward<B, 1> for LinearNode<B> {
        type State = ();

        fn backward(self, ops: Ops<(), 1>, grads: &mut Gradients, _: &mut Checkpointer) {
            let dy = grads.consume::<B>(&ops.node);
            if let [Some(node)] = ops.parents {
                grads.register::<B>(node.id, (self.adjoint)(dy));
            }
        }
    }

    let prep = LinearNode { adjoint }
        .prepare::<C>([x.node()])
        .compute_bound()
        .stateful();
    let y = forward(Autodiff::<B, C>::inner(x));
    match prep {
        OpsKind::Tracked(prep) => prep.finish((), y),
        OpsKind::UnTracked(prep) => prep.finish(y),
    }
}
