//! The explanations with their formulas, and the keyboard help.

use super::*;
use crate::space::EDGES;
use crate::web::commands::Command;
use yew::prelude::*;

/// MathML of the formulas in the explanations (no external script).
pub(super) const MATH_NTK: &str = r#"<math display="block"><mrow><msub><mi>Θ</mi><mrow><mi>i</mi><mi>j</mi></mrow></msub><mo>=</mo><msub><mo>∑</mo><mi>k</mi></msub><msub><mo>∇</mo><mi>θ</mi></msub><msub><mi>f</mi><mi>k</mi></msub><mo>(</mo><msub><mi>x</mi><mi>i</mi></msub><mo>)</mo><mo>·</mo><msub><mo>∇</mo><mi>θ</mi></msub><msub><mi>f</mi><mi>k</mi></msub><mo>(</mo><msub><mi>x</mi><mi>j</mi></msub><mo>)</mo></mrow></math>"#;

pub(super) const MATH_ESTIMATOR: &str = r#"<math display="block"><mrow><mover><mi>T</mi><mo>~</mo></mover><mo>=</mo><msup><mrow><mo>‖</mo><msub><mo>∇</mo><mi>θ</mi></msub><mfrac><mn>1</mn><mi>b</mi></mfrac><msubsup><mo>∑</mo><mrow><mi>i</mi><mo>=</mo><mn>1</mn></mrow><mi>b</mi></msubsup><mi>ℓ</mi><mo>(</mo><mi>f</mi><mo>(</mo><msub><mi>x</mi><mi>i</mi></msub><mo>)</mo><mo>,</mo><msub><mi>y</mi><mi>i</mi></msub><mo>)</mo><mo>‖</mo></mrow><mn>2</mn></msup><mo>≤</mo><mfrac><mrow><mn>2</mn><mspace width="0.2em"/><mi>tr</mi><mo>(</mo><mi>Θ</mi><mo>)</mo></mrow><mi>b</mi></mfrac></mrow></math>"#;

pub(super) const MATH_REWARD: &str = r#"<math display="block"><mrow><mi>R</mi><mo>=</mo><mover><mi>T</mi><mo>~</mo></mover><mo>−</mo><mi>μ</mi><mspace width="0.2em"/><mi>max</mi><mo>(</mo><mn>0</mn><mo>,</mo><mover><mi>T</mi><mo>~</mo></mover><mo>−</mo><mi>ν</mi><mo>)</mo></mrow></math>"#;

#[derive(Properties, PartialEq)]
pub struct KeyHelpProps {
    pub command: Callback<Command>,
}

#[component]
pub(super) fn KeyHelp(props: &KeyHelpProps) -> Html {
    let close = {
        let c = props.command.clone();
        Callback::from(move |_: MouseEvent| c.emit(Command::Help))
    };
    html! {
        <div class="keyhelp" role="dialog" aria-label="keyboard shortcuts">
            <h2>{"Keyboard"}</h2>
            <table>
                <tr><td><kbd>{"Space"}</kbd></td><td>{"run / pause"}</td></tr>
                <tr><td><kbd>{"→"}</kbd></td><td>{"one step"}</td></tr>
                <tr><td><kbd>{"←"}</kbd></td><td>{"back one step on the timeline"}</td></tr>
                <tr><td><kbd>{"R"}</kbd></td><td>{"reset (same seed)"}</td></tr>
                <tr><td><kbd>{"S"}</kbd></td><td>{"new seed"}</td></tr>
                <tr><td><kbd>{"?"}</kbd></td><td>{"this sheet"}</td></tr>
            </table>
            <button onclick={close}>{"Close"}</button>
        </div>
    }
}

#[component]
pub(super) fn Explain() -> Html {
    let edges = EDGES
        .iter()
        .map(|(t, f)| format!("{t}←{f}"))
        .collect::<Vec<_>>()
        .join(", ");
    html! {
        <article class="explain">
            <h2 id="explain-nas">{"Neural architecture search in one paragraph"}</h2>
            <p>{"A network is built by repeating a small "}<em>{"cell"}</em>{". NAS-Bench-201's cell has 4 nodes and 6 edges ("}{edges}{"); each edge carries one of 5 operations, so there are 5⁶ = 15,625 cells. Training each to see which is best costs GPU-years; NAS looks for a good one cheaply. Differentiable NAS relaxes the choice: every edge mixes all 5 ops with weights softmax(α), and α is optimised."}</p>
            <h2 id="explain-ntk">{"The neural tangent kernel and its trace"}</h2>
            <p>{"For a network f with weights θ, the NTK is the Gram matrix of its gradients:"}</p>
            { raw_html(MATH_NTK) }
            <p>{"Under gradient descent the training loss falls at a rate governed by Θ's eigenvalues; their sum, the trace tr(Θ), bounds how fast. NASI's bet: a cell whose untrained network has a large NTK trace trains fast, and trains well. The panel "}<em>{"The NTK itself"}</em>{" computes Θ for a few inputs so you can see it."}</p>
            <h2 id="explain-objective">{"NASI's objective"}</h2>
            <p>{"Computing tr(Θ) needs one backward pass per input and class. NASI estimates it with one backward pass of the mini-batch loss (eq. 12):"}</p>
            { raw_html(MATH_ESTIMATOR) }
            <p>{"and maximises a reward with an optional penalty that keeps the trace below a threshold ν (eq. 8):"}</p>
            { raw_html(MATH_REWARD) }
            <p>{"Each step draws a batch (noise with random labels: NASI needs neither data nor labels; by default pink noise, whose 1/f² spectrum is that of natural images, which the quality tests in docs/results.md chose over white noise) and Gumbel noise g, forms the relaxed cell with weights softmax((α + g)/τ) at α = 0, and takes the gradient G = ∇α R. After T steps, α* sums the gradients, each divided by the largest gradient norm seen so far (eq. 18), and the cell is the argmax of α* on every edge, leaving out none (as DARTS's rule does; the paper preset keeps it in)."}</p>
            <h2 id="explain-alpha">{"Reading the weight chart"}</h2>
            <p>{"One row per edge; each column is a step; the coloured stack is softmax(α*) after that step (colours as in the legend and the cell). A colour that grows along a row is an op whose presence on that edge raises the NTK trace. Hover a row to find its edge; drag the timeline to replay any step."}</p>
            <h2 id="explain-cell">{"Reading the cell"}</h2>
            <p>{"Nodes 0–3 from input to output. Each edge shows its current argmax op by colour "}<em>{"and"}</em>{" dash pattern and glyph (∅ none, id skip, 1×1, 3×3, avg pool); its width grows with the op's probability. Grey edges cannot carry information from input to output."}</p>
            <h2 id="explain-refine">{"The second stage"}</h2>
            <p>{"α* does not only pick one cell: it ranks them all (a cell's score is the sum of α* over its edges' ops). The second stage, our addition to the paper's Algorithm 1, takes the K cells that α* ranks highest (64 by default), builds each as its own network at the size NAS-Bench-201 trains it (16 channels, 5 cells per stage; the search's supernet is smaller), on three draws of random weights (the seed's own and two more) and the search's batch, and scores it with other training-free proxies: NASWOT (how differently the untrained ReLUs split the inputs), the number of parameters, the gradient scale (how much the gradient grows on its way back from the last cell to the first: a deep stack of batch-normalised convolutions makes it explode, a skip connection tames it), and the depth (the convolutions on the network's deepest path: a pool on that path also tames the gradient, but by taking a layer away, where a skip connection adds a shortcut beside it). Each proxy ranks the cells on each draw; a cell's score is the sum of ln(rank/K), averaged over the draws, so a cell must do well on all of them and not by the luck of one initialisation. Then it climbs: the leading cell's one-edge variants join and are scored, again and again (8 rounds at most), so each edge is judged with the others in place. It runs on the CPU after the search, in about half a minute (longer in a browser). Set K to 0 for the paper's method alone."}</p>
            <h2 id="explain-landscape">{"The whole space"}</h2>
            <p>{"Every NAS-Bench-201 cell's test accuracy after 200 epochs of training (the benchmark's own table, bundled with the page and never read by the search) against the number of parameters of its network. Rings mark NASI's pick (orange), the best cell (gold) and your own cell (green). The lower chart is the random-search baseline: the expected best accuracy among n cells drawn at random and trained, computed exactly from the table (no simulation). Where it crosses the orange line is how many trained cells random search needs to expect NASI's result."}</p>
            <h2 id="explain-compare">{"Comparing runs"}</h2>
            <p>{"Keep a finished run, then replay a preset or run another search: both cells, their weight charts and accuracies stand side by side, with the settings that differ, the edges whose ops differ and the accuracy gap."}</p>
            <h2 id="explain-darts">{"The DARTS space"}</h2>
            <p>{"DARTS's space, the one of the paper's full-scale results, is much larger (about 10¹⁸ networks): a network of normal cells and two reduction cells (which halve the image and double the channels), each cell with 2 inputs (the two previous cells), 4 nodes and 14 candidate edges over 8 ops (none, max and average pool, skip, separable and dilated convolutions). NASI searches both cells at once with one α of 28 rows. The chart then has one row per edge of each cell. At the end each node keeps its 2 strongest inputs and their best op other than none, as DARTS's own code does; the result is a Genotype(…) line you paste into DARTS's genotypes.py to train it. Pick it with the Space selector; the darts-tiny preset is small enough for a browser."}</p>
            <h2 id="explain-settings">{"The settings"}</h2>
            <p>{"T: steps (gradient samples). b: batch of the estimator. C, N: channels and cells per stage of the supernet (a smaller proxy of NB201's network; C=16, N=5 is the real one). Input size: noise images of that size (pink or white). Second stage K: how many of α*'s best cells are rescored after the search (0: off). μ, ν: the penalty (μ = 0 turns it off; ν = mean uses the mean T̃ of earlier steps). τ: Gumbel-softmax temperature (lower: closer to one op per edge). Hard: each step's forward pass uses one op per edge, the gradient the soft mixture's. All settings are in the page's address: copy it to share the run."}</p>
            <h2 id="explain-files">{"Files"}</h2>
            <p>{"Runs of the command-line tool ("}<code>{"cargo run --release -- search"}</code>{") write trajectory.jsonl and result.json in the same format as the downloads here; load them to replay a full-scale native run. An NB201 accuracy table (arch,cifar10_test,cifar100_test,imagenet16_test) shows how well the selected cell really trains; the search never reads it."}</p>
        </article>
    }
}
