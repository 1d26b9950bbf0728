//! Lesson mode (`#lesson=1`): eight short steps for a 45-minute class, each naming the part of
//! the page it talks about (that panel is highlighted and scrolled to), with Back / Next and a
//! progress line. `docs/teaching.md` is the teacher's plan around them.

use super::*;
use crate::web::state::Action;
use yew::prelude::*;

/// One step: its title, the id of the heading of the panel it highlights, and its text.
pub(super) struct Step {
    pub(super) title: &'static str,
    pub(super) target: &'static str,
    pub(super) text: &'static str,
}

/// The lesson, in order.
pub(super) const STEPS: [Step; 8] = [
    Step {
        title: "The search space",
        target: "cell-h",
        text: "A NAS-Bench-201 cell is a small graph: 4 nodes and 6 edges, and on each edge one of 5 operations (none, skip connection, 1×1 convolution, 3×3 convolution, 3×3 average pool). That makes 5⁶ = 15,625 cells. Every one of them was trained for 200 epochs on three datasets, so we know each cell's true accuracy. The string under the drawing names the op on each edge.",
    },
    Step {
        title: "Every cell at once",
        target: "landscape-h",
        text: "Each dot is one cell: its test accuracy after training against its number of parameters. Most cells are decent; the very best are rare. Point at a dot to read it. A search method's job is to land near the top without training thousands of cells.",
    },
    Step {
        title: "The neural tangent kernel",
        target: "ntk-h",
        text: "The NTK Θ measures how the network's outputs on two inputs move together when the weights move. Its trace bounds how fast gradient descent lowers the training loss, and it can be computed on the untrained network. Press “Compute the exact NTK of this cell”: it costs one backward pass per input and class.",
    },
    Step {
        title: "NASI's estimator and its one-step gradient",
        target: "trace-h",
        text: "NASI replaces the exact trace by T̃ = ‖∇θL‖² on a mini-batch with random labels (eq. 12): one backward pass. It relaxes the cell so that every edge mixes all 5 ops with Gumbel-softmax weights of logits α, takes the gradient of T̃ with respect to α at α = 0 on a fresh batch and noise each step, and sums the normalised gradients into α* (eq. 18). This chart is T̃ at each step; nothing is trained.",
    },
    Step {
        title: "Run it",
        target: "controls-h",
        text: "Press Run (or Space). The search runs on this computer's GPU through WebGPU, or on the CPU. Watch the weight chart: each edge's bar shifts toward the ops that raise the trace. Press S for a new seed and run again: does the cell change?",
    },
    Step {
        title: "Check it against the benchmark",
        target: "landscape-h",
        text: "The cell's accuracy and rank are under its drawing, and the orange ring marks NASI's pick among all cells. The lower chart is random search: the expected best accuracy of n cells picked at random and trained. How many would random search have to train to match NASI, which trained none?",
    },
    Step {
        title: "Where it fails, and why",
        target: "refine-h",
        text: "The benchmark's best cells put a skip connection on edge 3←0 (the cell's input straight to its output). The untrained network's trace prefers convolutions there, and prefers nothing at all even more: a deep stack without shortcuts makes the gradient explode, and the trace counts that explosion as speed. The second stage rescores α*'s best cells with the gradient scale, which counts it against them, and with the depth, so that a pool that shortens the cell is not mistaken for a shortcut; it climbs to each leader's one-edge variants, averaging over three weight draws, and finds the skip on 34 of the 35 seeds we tried. Compare Algorithm 1's pick and the second stage's below.",
    },
    Step {
        title: "Try to beat it",
        target: "cell-h",
        text: "Click an edge of the cell (or use the menus under it) to change its op. The page scores your cell's NTK on this computer and looks up its accuracy and rank. Can you beat NASI's pick? Try a skip connection on 3←0. Does a higher trace mean a better cell?",
    },
];

/// Only the lesson's step.
#[derive(Properties, PartialEq)]
pub(super) struct LessonProps {
    /// 1-based.
    pub(super) step: usize,
    pub(super) dispatch: Dispatch,
}

/// The lesson bar, fixed at the bottom of the window.
#[component]
pub(super) fn LessonBar(props: &LessonProps) -> Html {
    let n = STEPS.len();
    let k = props.step.clamp(1, n);
    let step = &STEPS[k - 1];
    // Scroll the highlighted panel into view when the step changes.
    use_effect_with(step.target, |target| {
        if let Some(el) = web_sys::window()
            .and_then(|w| w.document())
            .and_then(|d| d.get_element_by_id(target))
        {
            el.scroll_into_view_with_bool(true);
        }
        || ()
    });
    let go = |to: Option<usize>| {
        let d = props.dispatch.clone();
        Callback::from(move |_: MouseEvent| d.dispatch(Action::Lesson(to)))
    };
    html! {
        <aside class="lesson" aria-label="lesson" data-step={k.to_string()}>
            <p class="lesson-progress"><strong>{format!("Lesson · step {k} of {n}: ")}</strong>{step.title}
                <progress max={n.to_string()} value={k.to_string()} aria-label={format!("lesson progress: step {k} of {n}")}></progress></p>
            <p class="lesson-text">{step.text}</p>
            <div class="buttons">
                <button class="lesson-back" onclick={go(Some(k - 1))} disabled={k == 1}>{"Back"}</button>
                if k < n {
                    <button class="lesson-next primary" onclick={go(Some(k + 1))}>{"Next"}</button>
                } else {
                    <button class="lesson-finish primary" onclick={go(None)}>{"Finish the lesson"}</button>
                }
                <button class="lesson-leave" onclick={go(None)}>{"Leave the lesson"}</button>
            </div>
        </aside>
    }
}

/// The heading id the lesson highlights at `step` (1-based), if lesson mode is on.
pub(super) fn target(step: Option<usize>) -> Option<&'static str> {
    step.map(|k| STEPS[k.clamp(1, STEPS.len()) - 1].target)
}
