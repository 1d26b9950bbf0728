//! The search loop as a library: events, determinism, NaN handling.

use nasi::config::SearchConfig;
use nasi::nasi::StepValues;
use nasi::search::{Search, SearchError, SearchEvent};

fn tiny() -> SearchConfig {
    SearchConfig {
        steps: 4,
        batch: 6,
        channels: 3,
        size: 8,
        seed: 9,
        ..SearchConfig::default()
    }
}

#[test]
fn events_come_in_order_and_are_reproducible() {
    let device = nasi::cpu_device();
    let run = || -> Vec<SearchEvent> {
        Search::new(&tiny(), &device)
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    let (a, b) = (run(), run());
    assert_eq!(a.len(), 6);
    assert!(matches!(a[0], SearchEvent::Started(_)));
    assert!(matches!(a[5], SearchEvent::Finished(_)));
    for (x, y) in a.iter().zip(&b) {
        if let (SearchEvent::Step(x), SearchEvent::Step(y)) = (x, y) {
            assert_eq!(
                (x.trace, &x.alpha, x.genotype),
                (y.trace, &y.alpha, y.genotype)
            );
            assert!(x.trace.is_finite() && x.trace > 0.0);
        }
    }
    let (SearchEvent::Finished(ra), SearchEvent::Finished(rb)) = (&a[5], &b[5]) else {
        panic!()
    };
    assert_eq!(ra.genotype, rb.genotype);
    assert_eq!(ra.steps, 4);
}

#[test]
fn penalty_uses_the_mean_of_earlier_traces() {
    let device = nasi::cpu_device();
    let cfg = SearchConfig { mu: 2.0, ..tiny() };
    let steps: Vec<_> = Search::new(&cfg, &device)
        .unwrap()
        .filter_map(|e| match e.unwrap() {
            SearchEvent::Step(s) => Some(s),
            _ => None,
        })
        .collect();
    assert_eq!(steps[0].nu, None);
    let mean01 = (steps[0].trace + steps[1].trace) / 2.0;
    assert!((steps[2].nu.unwrap() - mean01).abs() < 1e-12);
    for s in &steps {
        let active = s.nu.is_some_and(|nu| s.trace > nu);
        assert_eq!(s.penalty_active, active);
        let want = s.trace
            - if active {
                2.0 * (s.trace - s.nu.unwrap())
            } else {
                0.0
            };
        assert!((s.reward - want).abs() < 1e-9);
    }
}

#[test]
fn non_finite_trace_stops_with_the_step_named() {
    let device = nasi::cpu_device();
    let mut s = Search::new(&tiny(), &device).unwrap();
    s.step().unwrap();
    let ticket = s.begin_step().ticket;
    let bad = StepValues {
        trace: f32::NAN,
        loss: 1.0,
        grad_trace: nasi::space::ArchTable::zeros(6, 5),
    };
    match s.finish_step(ticket, bad) {
        Err(e @ SearchError::NonFinite { step: 2, .. }) => {
            assert!(e.to_string().contains("step 2"))
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(s.steps_done(), 1, "the good step is kept");
}
