//! The reducer, natively: run identities, a link's settings, results, the timeline.

use super::*;
use crate::search::parse_trajectory;

const TINY: &str = include_str!("../../../www/presets/tiny.jsonl");

fn recorded() -> (StartInfo, Vec<StepRecord>, SearchResult) {
    let mut start = None;
    let mut steps = Vec::new();
    let mut result = None;
    for e in parse_trajectory(TINY).unwrap() {
        match e {
            SearchEvent::Started(i) => start = Some(i),
            SearchEvent::Step(r) => steps.push(r),
            SearchEvent::Finished(r) => result = Some(r),
        }
    }
    (start.unwrap(), steps, result.unwrap())
}

fn load(run: RunId, adopt_config: bool) -> Action {
    Action::Load {
        run,
        source: "preset `tiny`".into(),
        events: parse_trajectory(TINY).unwrap(),
        instant: true,
        adopt_config,
    }
}

/// A page with a live run `run` that has started and taken one step.
fn live(run: RunId) -> Playground {
    let (info, steps, _) = recorded();
    let mut p = Playground::new(SearchConfig::default(), ViewState::default(), vec![]);
    p.apply(Action::BeginLive { run });
    p.apply(Action::Started {
        run,
        backend: "CPU (wasm)".into(),
        info,
    });
    p.apply(Action::Step {
        run,
        record: steps[0].clone(),
        ms: 1.0,
    });
    p
}

#[test]
fn a_live_run_steps_and_finishes() {
    let (_, steps, result) = recorded();
    let mut p = live(1);
    assert_eq!((p.status.clone(), p.steps.len()), (Status::Running, 1));
    // The second stage's progress is shown until the result comes; another run's is dropped.
    p.apply(Action::Refining {
        run: 1,
        done: 3,
        total: 64,
    });
    p.apply(Action::Refining {
        run: 0,
        done: 9,
        total: 9,
    });
    assert_eq!(p.refining, Some((3, 64)));
    p.apply(Action::Finished {
        run: 1,
        result: result.clone(),
    });
    assert_eq!(p.status, Status::Done);
    assert_eq!(p.result.as_ref(), Some(&result));
    assert_eq!(p.refining, None);
    assert_eq!(*p.steps, steps[..1]);
}

#[test]
fn a_loaded_run_is_not_mixed_with_the_live_one_it_replaced() {
    let (_, steps, result) = recorded();
    let mut p = live(1);
    p.apply(load(2, true));
    assert_eq!(*p.steps, steps);
    // The superseded runner's late actions are dropped.
    let mut late = steps[3].clone();
    late.step = 99;
    p.apply(Action::Step {
        run: 1,
        record: late,
        ms: 1.0,
    });
    let mut other = result.clone();
    other.seed = 12345;
    p.apply(Action::Finished {
        run: 1,
        result: other,
    });
    p.apply(Action::Failed {
        run: 1,
        message: "lost".into(),
    });
    assert_eq!(*p.steps, steps);
    assert_eq!(p.result.as_ref(), Some(&result));
    assert_eq!((p.status.clone(), p.run_id), (Status::Done, 2));
}

#[test]
fn a_late_ntk_of_another_run_is_dropped() {
    let (_, steps, _) = recorded();
    let view = |g| NtkView {
        genotype: g,
        batch: 1,
        matrix: vec![1.0],
        eigenvalues: vec![1.0],
        trace_estimate: 1.0,
    };
    let mut p = live(1);
    p.apply(load(2, true));
    p.apply(Action::Ntk {
        run: 1,
        view: view(*steps[0].genotype.nb201().unwrap()),
    });
    assert_eq!(p.ntk, None);
    p.apply(Action::Ntk {
        run: 2,
        view: view(*steps[9].genotype.nb201().unwrap()),
    });
    assert_eq!(
        p.ntk.map(|n| n.genotype),
        steps[9].genotype.nb201().copied()
    );
}

#[test]
fn a_request_older_than_the_shown_run_is_dropped() {
    // A preset fetch asked for before Run was pressed, answered after.
    let mut p = live(3);
    p.apply(load(2, true));
    assert_eq!(
        (p.run_id, p.status.clone(), p.steps.len()),
        (3, Status::Running, 1)
    );
    p.apply(Action::BeginLive { run: 2 });
    assert_eq!(p.status, Status::Running);
}

#[test]
fn a_links_settings_stay_the_pages_settings() {
    let (link, view, _) = crate::config::url::decode("#seed=3&steps=20&channels=4");
    let mut p = Playground::new(link.clone(), view, vec![]);
    p.apply(load(1, false));
    assert_eq!(p.config, link, "the form keeps the link's settings");
    assert_eq!(p.steps.len(), 10, "the recorded run is shown");
    let notice = p.notices.last().expect("a notice says which run is shown");
    for needle in [
        "preset `tiny`",
        "seed 0 (the form: 3)",
        "steps 10 (the form: 20)",
        "batch 8 (the form: 32)",
    ] {
        assert!(notice.contains(needle), "{needle}: {notice}");
    }
    // The second stage's C and N differ (the tiny preset scores at its own), the search's C not.
    assert!(
        notice.contains("refine-channels 0 (the form: 16)"),
        "{notice}"
    );
    let named: Vec<&str> = notice.split([':', ',']).map(str::trim).collect();
    assert!(
        !named.iter().any(|n| n.starts_with("channels ")),
        "C = 4 in both: {notice}"
    );
    // A preset chosen in the form (or a file) takes its recording's settings, and the notice
    // about the replaced run goes.
    p.apply(load(2, true));
    assert_eq!(p.config, recorded().0.config);
    assert!(
        p.notices.iter().all(|n| !n.starts_with("Shown: ")),
        "{:?}",
        p.notices
    );
    // So does pressing Run.
    let mut q = Playground::new(link.clone(), ViewState::default(), vec![]);
    q.apply(load(1, false));
    assert_eq!(q.notices.len(), 1);
    q.apply(Action::BeginLive { run: 2 });
    assert!(q.notices.is_empty(), "{:?}", q.notices);
}

#[test]
fn a_result_completes_its_own_run_and_starts_another_otherwise() {
    let (_, steps, result) = recorded();
    let mut p = Playground::new(SearchConfig::default(), ViewState::default(), vec![]);
    p.apply(load(1, true));
    p.apply(Action::LoadResult {
        run: 2,
        result: result.clone(),
    });
    assert_eq!(
        (p.run_id, p.steps.len()),
        (1, steps.len()),
        "its own result"
    );
    let mut other = result.clone();
    other.config.seed = 7;
    p.apply(Action::LoadResult {
        run: 3,
        result: other.clone(),
    });
    assert_eq!((p.run_id, p.steps.len()), (3, 0));
    assert_eq!(p.config, other.config);
    // Loading a result while a live run goes on ends the live run's hold on the page.
    let mut p = live(4);
    p.apply(Action::LoadResult {
        run: 5,
        result: result.clone(),
    });
    p.apply(Action::Step {
        run: 4,
        record: steps[1].clone(),
        ms: 1.0,
    });
    assert!(p.steps.is_empty() && p.status == Status::Done);
}

#[test]
fn the_timeline_and_notices() {
    let mut p = Playground::new(SearchConfig::default(), ViewState::default(), vec![]);
    p.apply(load(1, true));
    p.apply(Action::SelectBy(-3));
    assert_eq!(p.selected, Some(6));
    p.apply(Action::SelectBy(10));
    assert_eq!(p.selected, None, "the newest step follows new steps");
    p.apply(Action::Select(Some(100)));
    assert_eq!(p.selected, None);
    p.apply(Action::Notice("a".into()));
    p.apply(Action::Notice("a".into()));
    assert_eq!(p.notices, ["a"]);
    p.apply(Action::DismissNotice(5));
    p.apply(Action::DismissNotice(0));
    assert!(p.notices.is_empty());
}

#[test]
fn the_bundled_table_reports_until_a_users_table_replaces_it() {
    use crate::space::nb201::table::{HEADER, Table};
    let csv = |acc: f64| {
        Rc::new(
            Table::parse(
                &format!("{HEADER}\n|none~0|+|none~0|none~1|+|none~0|none~1|none~2|,{acc},1,1\n"),
                "t",
            )
            .unwrap(),
        )
    };
    let g: Genotype = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"
        .parse()
        .unwrap();
    let acc = |p: &Playground| p.table.as_ref().and_then(|t| t.get(&g)).map(|a| a.cifar10);
    let mut p = Playground::new(SearchConfig::default(), ViewState::default(), vec![]);
    p.apply(Action::BundledTable(csv(10.0)));
    assert_eq!((acc(&p), p.table_bundled), (Some(10.0), true));
    p.apply(Action::Table(csv(20.0)));
    assert_eq!((acc(&p), p.table_bundled), (Some(20.0), false));
    // A bundled table that arrives after the user's is kept out.
    p.apply(Action::BundledTable(csv(10.0)));
    assert_eq!((acc(&p), p.table_bundled), (Some(20.0), false));
}

#[test]
fn the_students_own_cell_is_shown_until_cleared_or_a_new_search() {
    let (_, steps, _) = recorded();
    let mine: Genotype =
        "|skip_connect~0|+|nor_conv_3x3~0|none~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
            .parse()
            .unwrap();
    let view = ViewState {
        cell: Some(mine),
        ..ViewState::default()
    };
    let mut p = Playground::new(SearchConfig::default(), view, vec![]);
    p.apply(load(1, true));
    assert_eq!(
        p.shown_nb201(),
        Some(mine),
        "a link's cell survives the replay"
    );
    assert_eq!(p.search_genotype(), Some(steps.last().unwrap().genotype));
    // An NTK of another cell is stale and dropped; the own cell's is kept.
    let ntk = |g| NtkView {
        genotype: g,
        batch: 1,
        matrix: vec![1.0],
        eigenvalues: vec![1.0],
        trace_estimate: 1.0,
    };
    let other = steps[0].genotype.nb201().copied().unwrap();
    p.apply(Action::Ntk {
        run: 1,
        view: ntk(other),
    });
    assert!(p.ntk.is_none());
    p.apply(Action::Ntk {
        run: 1,
        view: ntk(mine),
    });
    assert!(p.ntk.is_some());
    p.apply(Action::EditCell(None));
    assert_eq!(p.shown_genotype(), p.search_genotype());
    assert!(p.ntk.is_none(), "the old cell's NTK goes with it");
    p.apply(Action::EditCell(Some(mine)));
    p.apply(Action::BeginLive { run: 2 });
    assert_eq!(p.custom, None, "a new search shows the search's cell");
    p.apply(Action::SetDataset(crate::landscape::Dataset::Cifar100));
    assert_eq!(p.dataset, crate::landscape::Dataset::Cifar100);
}

#[test]
fn a_pinned_run_stays_beside_the_next_one_and_lesson_steps_move() {
    let (_, steps, result) = recorded();
    let mut p = Playground::new(SearchConfig::default(), ViewState::default(), vec![]);
    p.apply(Action::Pin);
    assert!(p.pinned.is_none(), "nothing finished to pin");
    p.apply(load(1, true));
    p.apply(Action::Pin);
    let pinned = p.pinned.clone().unwrap();
    assert_eq!((&pinned.result, pinned.steps.len()), (&result, steps.len()));
    assert!(
        pinned.label.contains("tiny") && pinned.label.contains("seed 0"),
        "{}",
        pinned.label
    );
    // A new run replaces the shown one, not the pinned one.
    p.apply(Action::BeginLive { run: 2 });
    assert_eq!(p.pinned.as_ref().map(|r| &r.result), Some(&result));
    assert!(p.result.is_none());
    p.apply(Action::Unpin);
    assert!(p.pinned.is_none());
    p.apply(Action::Lesson(Some(3)));
    assert_eq!(p.lesson, Some(3));
    p.apply(Action::Lesson(None));
    assert_eq!(p.lesson, None);
}
