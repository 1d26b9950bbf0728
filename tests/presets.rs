//! The page's recorded presets (`www/presets/*.jsonl`) still decode, record the preset's settings,
//! and are what the current code computes for them (same seed → same trajectory).

use nasi::config::{PRESETS, preset};
use nasi::search::{Search, SearchEvent, parse_trajectory};

#[test]
fn recorded_presets_match_a_fresh_search() {
    let device = nasi::cpu_device();
    for (name, _) in PRESETS {
        let path = format!("{}/www/presets/{name}.jsonl", env!("CARGO_MANIFEST_DIR"));
        let events = parse_trajectory(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let cfg = preset(name).unwrap();
        let SearchEvent::Started(info) = &events[0] else {
            panic!("{name}: no start event")
        };
        assert_eq!(
            info.config, cfg,
            "{name}: recorded settings differ from the preset"
        );
        let fresh: Vec<SearchEvent> = Search::new(&cfg, &device)
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(fresh.len(), events.len(), "{name}");
        for (a, b) in fresh.iter().zip(&events) {
            if let (SearchEvent::Step(a), SearchEvent::Step(b)) = (a, b) {
                assert_eq!(
                    (a.step, a.trace, a.alpha, a.genotype),
                    (b.step, b.trace, b.alpha, b.genotype),
                    "{name}"
                );
            }
            if let (SearchEvent::Finished(a), SearchEvent::Finished(b)) = (a, b) {
                assert_eq!(a.genotype, b.genotype, "{name}");
            }
        }
    }
}
