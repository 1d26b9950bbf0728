//! The piecewise-linear choices of one forward pass (ReLU masks, max-pool argmax positions),
//! recorded by the unperturbed pass of NASI's finite-difference Hessian-vector product and
//! replayed by the two perturbed ones.
//!
//! The NASI gradient differentiates ∇θL in α by finite differences of ∇αL at θ ± ε·v. A choice
//! that flips between those passes makes ∇αL jump, which ruins the difference; replaying the
//! unperturbed pass's choices makes it converge to the exact mixed second derivative, which holds
//! them fixed (a piecewise-linear op's second derivative is zero almost everywhere).

/// One pass's choices of one kind (`T`: a ReLU mask, a pool's argmax indices), in op order.
#[derive(Clone, Debug, Default)]
pub enum Tape<T> {
    /// Ordinary ops.
    #[default]
    Free,
    /// Ordinary ops, recording each choice.
    Record(Vec<T>),
    /// The recorded choices, in the same order.
    Replay {
        /// Choices from a [`Tape::Record`] pass.
        items: Vec<T>,
        /// Index of the next one.
        next: usize,
    },
}

impl<T: Clone> Tape<T> {
    /// The choice this pass's next op uses: `None` in a free pass (the op chooses as usual);
    /// otherwise `choose()`'s, recorded, or the recorded one, replayed.
    pub fn choice(&mut self, choose: impl FnOnce() -> T) -> Option<T> {
        match self {
            Tape::Free => None,
            Tape::Record(items) => {
                let c = choose();
                items.push(c.clone());
                Some(c)
            }
            Tape::Replay { items, next } => {
                let c = items[*next].clone();
                *next += 1;
                Some(c)
            }
        }
    }

    /// A replay of the same choices from the start, leaving `self` as it is.
    pub fn replay(&self) -> Tape<T> {
        match self {
            Tape::Record(items) | Tape::Replay { items, .. } => Tape::Replay {
                items: items.clone(),
                next: 0,
            },
            Tape::Free => Tape::Free,
        }
    }
}
