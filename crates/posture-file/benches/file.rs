//! Load and lookup times for generated device lists of 1k, 100k and 1M devices.
//!
//! `cargo bench -p posture-file -- load/1000000` runs the million-device loads only.

use std::hint::black_box;
use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{
    BenchmarkGroup, Criterion, SamplingMode, Throughput, criterion_group, criterion_main,
};
use posture_file::{DeviceList, FileFormat};

const SIZES: [usize; 3] = [1_000, 100_000, 1_000_000];

fn identifier(n: usize) -> String {
    format!("C02{n:09}")
}

/// A compact JSON inventory, one device per line, about 170 bytes a device.
fn json_file(devices: usize) -> Vec<u8> {
    let mut out = String::with_capacity(devices * 180 + 16);
    out.push_str("{\"devices\":[\n");
    for n in 0..devices {
        if n > 0 {
            out.push_str(",\n");
        }
        let id = identifier(n);
        out.push_str(&format!(
            r#"{{"identifier":"{id}","data":{{"user":"user{n}","email":"user{n}@example.com","department":"Engineering","groups":["engineering","vpn-users"]}}}}"#
        ));
    }
    out.push_str("\n]}\n");
    out.into_bytes()
}

/// A CSV inventory with four data columns, about 75 bytes a device.
fn csv_file(devices: usize) -> Vec<u8> {
    let mut out = String::with_capacity(devices * 80 + 64);
    out.push_str("Identifier,user,email,department,groups\n");
    for n in 0..devices {
        let id = identifier(n);
        out.push_str(&format!(
            "{id},user{n},user{n}@example.com,Engineering,engineering;vpn-users\n"
        ));
    }
    out.into_bytes()
}

fn file(format: FileFormat, devices: usize) -> Vec<u8> {
    match format {
        FileFormat::Csv => csv_file(devices),
        _ => json_file(devices),
    }
}

/// Few samples for the big lists, so a run stays short: a million-device load takes
/// most of a second, so its group runs 10 iterations, one per sample.
fn configure(group: &mut BenchmarkGroup<'_, WallTime>, devices: usize) {
    if devices >= 1_000_000 {
        group.sample_size(10);
        group.sampling_mode(SamplingMode::Flat);
        group.measurement_time(Duration::from_secs(10));
    } else if devices >= 100_000 {
        group.sample_size(20);
    }
}

fn load(c: &mut Criterion) {
    for devices in SIZES {
        let mut group = c.benchmark_group(format!("load/{devices}"));
        configure(&mut group, devices);
        group.throughput(Throughput::Elements(devices as u64));
        for format in [FileFormat::Json, FileFormat::Csv] {
            let bytes = file(format, devices);
            group.bench_function(format.as_str(), |b| {
                b.iter(|| {
                    DeviceList::parse(black_box(&bytes), format, "bench")
                        .expect("generated files load")
                });
            });
        }
        group.finish();
    }
}

fn lookup(c: &mut Criterion) {
    for devices in SIZES {
        let mut group = c.benchmark_group(format!("lookup/{devices}"));
        configure(&mut group, devices);
        group.throughput(Throughput::Elements(1));
        for format in [FileFormat::Json, FileFormat::Csv] {
            let list = DeviceList::parse(&file(format, devices), format, "bench")
                .expect("generated files load");
            // Spread the probes over the whole list, in an order unlike the file's.
            let probes: Vec<String> = (0..1024).map(|k| identifier(k * 7919 % devices)).collect();
            let mut next = 0;
            group.bench_function(format!("{}/hit", format.as_str()), |b| {
                b.iter(|| {
                    next = (next + 1) % probes.len();
                    list.decide(black_box(&probes[next]))
                });
            });
            group.bench_function(format!("{}/miss", format.as_str()), |b| {
                b.iter(|| list.decide(black_box("C02NOTLISTED")));
            });
        }
        group.finish();
    }
}

criterion_group!(benches, load, lookup);
criterion_main!(benches);
