//! The lean stream: frames applied to the keyframe give back every tick, quantised, and a
//! quantised figure is written on the page exactly as the exact one.

use simulator::engine::Engine;
use simulator::fault::Fault;
use simulator::lean::{self, Lean, LeanDecoder, LeanEncoder};
use simulator::measure::Rolling;
use simulator::queue::secs;
use simulator::templates;
use simulator::wire::Tick;

/// The page's own formats (`app::format`), repeated here: the contract is that they read
/// the same from a quantised figure as from the exact one.
fn percent(share: f64) -> String {
    format!("{:.1}%", share * 100.0)
}

fn rate(rps: f64) -> String {
    if rps < 10.0 {
        format!("{rps:.1}/s")
    } else {
        format!("{rps:.0}/s")
    }
}

fn millis(ms: f64) -> String {
    if ms < 10.0 {
        format!("{ms:.1} ms")
    } else if ms < 10_000.0 {
        format!("{ms:.0} ms")
    } else {
        format!("{:.1} s", ms / 1000.0)
    }
}

/// A cheap deterministic stream of values over many magnitudes.
fn values() -> impl Iterator<Item = f64> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..200_000).map(move |_| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x >> 11) as f64 / (1u64 << 53) as f64
    })
}

#[test]
fn quantised_figures_read_as_the_exact_ones_and_keep_their_side_of_every_threshold() {
    for v in values() {
        assert_eq!(percent(lean::share(v)), percent(v), "share {v}");
        for t in lean::SHARE_THRESHOLDS {
            assert_eq!(lean::share(v) > t, v > t, "share {v} against {t}");
            assert_eq!(lean::share(v) < t, v < t, "share {v} against {t}");
        }
        for scale in [1.0, 30.0, 2_000.0, 90_000.0] {
            let x = v * scale;
            assert_eq!(rate(lean::rate(x)), rate(x), "rate {x}");
            assert_eq!(lean::rate(x) > 0.0, x > 0.0, "rate {x}");
            assert_eq!(millis(lean::millis(x)), millis(x), "millis {x}");
        }
    }
    // Exact thresholds and the ends.
    for v in [
        0.0, 0.05, 0.95, 0.99, 0.999, 1.0, 0.0004, 0.9994999, 0.98951,
    ] {
        assert_eq!(percent(lean::share(v)), percent(v), "share {v}");
    }
    // Whole numbers, often halfway between two shown values.
    for n in 0..100_000 {
        let x = n as f64 * 0.5;
        assert_eq!(rate(lean::rate(x)), rate(x), "rate {x}");
        assert_eq!(millis(lean::millis(x)), millis(x), "millis {x}");
        let ms = 10_000.0 + n as f64 * 50.0;
        assert_eq!(millis(lean::millis(ms)), millis(ms), "millis {ms}");
    }
}

/// The shop's ticks, 10 a second, with a kill and its revert on the way.
fn ticks(seconds: u64) -> Vec<Tick> {
    let mut engine = Engine::new(templates::build("shop", None, 1).unwrap(), 4);
    let mut rolling = Rolling::new(secs(1.0));
    let mut out = Vec::new();
    let mut kill = None;
    for n in 1..=seconds * 10 {
        if n == 30 {
            kill = Some(engine.inject(Fault::kill("catalog-db")).unwrap());
        }
        if n == 60 {
            engine.revert(kill.take().unwrap());
        }
        engine.run_until(secs(n as f64 / 10.0));
        rolling.push(engine.take_window());
        out.push(Tick::from_window(&engine, rolling.sum().unwrap(), 1.0));
    }
    out
}

#[test]
fn frames_applied_in_order_give_back_every_tick_quantised() {
    let ticks = ticks(10);
    let mut encoder = LeanEncoder::default();
    let mut decoder = LeanDecoder::default();
    let mut held: Option<Tick> = None;
    let (mut keyframes, mut frame_bytes, mut tick_bytes) = (0, 0, 0);
    for tick in &ticks {
        tick_bytes += serde_json::to_string(tick).unwrap().len();
        match encoder.encode(tick) {
            Lean::Keyframe(keyframe) => {
                keyframes += 1;
                decoder.keyframe(&keyframe);
                held = Some(*keyframe);
            }
            Lean::Frame(frame) => {
                let text = serde_json::to_string(&frame).unwrap();
                frame_bytes += text.len();
                let frame = serde_json::from_str(&text).unwrap();
                decoder.apply(held.as_mut().unwrap(), &frame).unwrap();
            }
        }
        assert_eq!(
            held.as_ref().unwrap(),
            &lean::quantised(tick),
            "at {}",
            tick.t
        );
    }
    assert_eq!(keyframes, 1);
    // Frames are a fraction of the ticks they stand for.
    assert!(
        frame_bytes * 3 < tick_bytes,
        "{frame_bytes} of {tick_bytes}"
    );
}

#[test]
fn a_new_shape_or_a_restart_sends_a_keyframe() {
    let ticks = ticks(2);
    let mut encoder = LeanEncoder::default();
    assert!(matches!(encoder.encode(&ticks[0]), Lean::Keyframe(_)));
    assert!(matches!(encoder.encode(&ticks[1]), Lean::Frame(_)));
    encoder.restart();
    assert!(matches!(encoder.encode(&ticks[2]), Lean::Keyframe(_)));
    let mut fewer = ticks[3].clone();
    fewer.links.pop();
    assert!(matches!(encoder.encode(&fewer), Lean::Keyframe(_)));
    assert!(matches!(encoder.encode(&ticks[4]), Lean::Keyframe(_)));
    // A frame that does not fit what the page holds is refused, not half applied.
    let mut decoder = LeanDecoder::default();
    let mut small = ticks[4].clone();
    small.services.clear();
    decoder.keyframe(&small);
    let Lean::Frame(frame) = encoder.encode(&ticks[5]) else {
        panic!("a frame");
    };
    if !frame.services.i.is_empty() {
        assert!(decoder.apply(&mut small, &frame).is_err());
    }
}
