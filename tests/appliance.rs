//! The gate as an appliance: `portico run` booted in a QEMU virtual machine, on a Debian
//! kernel, through the kernel's own drivers for every device a gate has.
//!
//! - a 2D scanner on a 16550 UART (`/dev/ttyS1`, the 8250 driver), fed from this test;
//! - a USB keyboard-wedge card reader (xHCI, usbhid, evdev), typed into through QEMU's
//!   monitor, and grabbed by the gate so its keys never reach the screen;
//! - the turnstile: a serial relay board on a second UART (`/dev/ttyS2`), whose bytes this
//!   test reads, or a relay and a beam sensor on lines of a GPIO chip (the kernel's GPIO
//!   simulator, `/dev/gpiochip0`), watched and broken by the VM's PID 1 for this test;
//! - the gate screen on a DRM/KMS display (bochs) through Slint's `linuxkms` backend, captured
//!   with QEMU's `screendump`, and staff's taps through a USB tablet, libinput and udev.
//!
//! The gate decides from the replica it was given and queues its scans; one test gives the VM a
//! network card, a hub on the host that comes back after being down, and a data disk whose
//! power is cut (QEMU killed, the disk written through with every write synced): the scans the
//! gate recorded before the cut are on the disk after it, and reach the hub once each.
//!
//! Needs a `kms` build, `qemu-system-x86_64`, busybox, udev, an unpacked Debian `linux-image`
//! package (`PORTICO_VM_KERNEL`) and the GPIO simulator built for it (`PORTICO_VM_GPIO_SIM`);
//! `.ci/appliance` sets all of that up and runs these tests.
//! Set `PORTICO_APPLIANCE_SHOTS` to a folder to keep the screens they captured.

#![cfg(feature = "kms")]

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const RELAY_OPEN: [u8; 4] = [0xA0, 0x01, 0x01, 0xA2];
const RELAY_CLOSE: [u8; 4] = [0xA0, 0x01, 0x00, 0xA1];
/// The display mode the VM's screen offers (and the gate renders at).
const SCREEN: (u32, u32) = (1280, 800);
/// Boot, drivers, udev and the gate's start under software emulation (slow CI machines).
const BOOT: Duration = Duration::from_secs(240);
const STEP: Duration = Duration::from_secs(60);

/// A QEMU machine booted into the gate; killed when dropped.
struct Vm {
    qemu: Child,
    dir: PathBuf,
    qmp: Qmp,
    scanner: UnixStream,
    control: UnixStream,
}

impl Drop for Vm {
    fn drop(&mut self) {
        let _ = self.qemu.kill();
        let _ = self.qemu.wait();
    }
}

impl Vm {
    /// With `network`, the VM has a virtio NIC on QEMU's user network, where the host is
    /// 10.0.2.2; with `disk`, a virtio disk (a raw image) that QEMU writes through with every
    /// write synced (`cache=directsync`), so that killing QEMU is a power cut: what the guest
    /// had only in its page cache is gone, what its `fsync` returned from is on the image.
    fn boot(dir: &Path, kernel: &Path, initrd: &Path, network: bool, disk: Option<&Path>) -> Vm {
        let vmlinuz = std::fs::read_dir(kernel.join("boot"))
            .expect("kernel's boot folder")
            .flatten()
            .map(|e| e.path())
            .find(|p| {
                p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with("vmlinuz-")
            })
            .expect("a vmlinuz in the kernel package");
        let sock = |name: &str| {
            format!(
                "unix:{},server=on,wait=off",
                dir.join(name).to_string_lossy()
            )
        };
        let file = |name: &str| format!("file:{}", dir.join(name).to_string_lossy());
        let mut qemu = Command::new("qemu-system-x86_64");
        if let Some(disk) = disk {
            qemu.args([
                "-drive",
                &format!(
                    "file={},format=raw,if=virtio,cache=directsync",
                    disk.to_string_lossy()
                ),
            ]);
        }
        let qemu = qemu
            .args(["-accel", "tcg", "-m", "1024", "-smp", "2", "-no-reboot"])
            .arg("-kernel")
            .arg(&vmlinuz)
            .arg("-initrd")
            .arg(initrd)
            .args(["-append", "console=ttyS0 quiet panic=-1"])
            .args(["-display", "none", "-vga", "none"])
            .args([
                "-nic",
                if network {
                    "user,model=virtio-net-pci"
                } else {
                    "none"
                },
            ])
            .args([
                "-device",
                &format!("VGA,id=screen,xres={},yres={}", SCREEN.0, SCREEN.1),
            ])
            .args(["-serial", &file("console.log")])
            .args(["-serial", &sock("scanner.sock")])
            .args(["-serial", &file("relay.out")])
            .args(["-serial", &sock("control.sock")])
            .args(["-device", "qemu-xhci"])
            .args(["-device", "usb-kbd,id=wedge,display=screen"])
            .args(["-device", "usb-tablet,id=tablet,display=screen"])
            .args(["-qmp", &sock("qmp.sock")])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("qemu.err")).unwrap())
            .spawn()
            .expect("qemu-system-x86_64 (Debian package qemu-system-x86)");
        let connect = |name: &str| {
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                match UnixStream::connect(dir.join(name)) {
                    Ok(s) => return s,
                    Err(e) if Instant::now() > deadline => panic!("qemu's {name}: {e}"),
                    Err(_) => std::thread::sleep(Duration::from_millis(100)),
                }
            }
        };
        let qmp = Qmp::connect(connect("qmp.sock"));
        let scanner = connect("scanner.sock");
        let control = connect("control.sock");
        Vm {
            qemu,
            dir: dir.to_path_buf(),
            qmp,
            scanner,
            control,
        }
    }

    /// Cuts the power: QEMU is killed at once. Returns the guest's console up to the cut.
    fn cut_power(mut self) -> String {
        self.qemu.kill().unwrap();
        self.qemu.wait().unwrap();
        self.console()
    }

    /// Waits until the VM has powered itself off.
    fn wait_off(&mut self, within: Duration) {
        let deadline = Instant::now() + within;
        while self.qemu.try_wait().unwrap().is_none() {
            assert!(
                Instant::now() < deadline,
                "the VM did not power off within {within:?}; console:\n{}",
                self.console()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The guest's console so far, without terminal colours.
    fn console(&self) -> String {
        let raw = std::fs::read(self.dir.join("console.log")).unwrap_or_default();
        strip_ansi(&String::from_utf8_lossy(&raw))
    }

    /// Waits until `count` console lines contain every one of `parts`; returns the last.
    fn wait_line(&self, parts: &[&str], count: usize, within: Duration) -> String {
        let deadline = Instant::now() + within;
        loop {
            let console = self.console();
            let hits: Vec<&str> = console
                .lines()
                .filter(|l| parts.iter().all(|p| l.contains(p)))
                .collect();
            if hits.len() >= count {
                return hits[count - 1].to_owned();
            }
            assert!(
                Instant::now() < deadline,
                "no console line #{count} with {parts:?} within {within:?}; console:\n{console}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// What the relay board has received so far.
    fn relay(&self) -> Vec<u8> {
        std::fs::read(self.dir.join("relay.out")).unwrap_or_default()
    }

    fn wait_pulses(&self, n: usize) {
        let expected: Vec<u8> = [RELAY_OPEN, RELAY_CLOSE].concat().repeat(n);
        let deadline = Instant::now() + STEP;
        while self.relay() != expected {
            assert!(
                self.relay().len() <= expected.len() && Instant::now() < deadline,
                "relay board got {:02X?}, expected {n} open/close pulses",
                self.relay()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// A code read by the UART scanner, terminated as the scanner is configured (CR).
    fn scan_serial(&mut self, bytes: &[u8]) {
        self.scanner.write_all(bytes).unwrap();
        self.scanner.write_all(b"\r").unwrap();
    }

    /// A code read by the USB keyboard-wedge reader: key presses, then Enter.
    fn scan_wedge(&mut self, code: &str) {
        for c in code.chars().chain(['\n']) {
            let (qcode, shift) = qcode(c);
            let key = |q: &str, down: bool| json!({"type": "key", "data": {"down": down, "key": {"type": "qcode", "data": q}}});
            let mut press = Vec::new();
            if shift {
                press.push(key("shift", true));
            }
            press.push(key(&qcode, true));
            // QEMU's USB keyboard queues a few events; a scanner's keystrokes are paced too.
            self.qmp.input(press);
            std::thread::sleep(Duration::from_millis(10));
            let mut release = vec![key(&qcode, false)];
            if shift {
                release.push(key("shift", false));
            }
            self.qmp.input(release);
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// A tap on the touch panel at a point of the screen, in pixels.
    fn tap(&mut self, x: u32, y: u32) {
        let abs = |axis: &str, v: u32, size: u32| json!({"type": "abs", "data": {"axis": axis, "value": v * 0x7fff / size}});
        self.qmp
            .input(vec![abs("x", x, SCREEN.0), abs("y", y, SCREEN.1)]);
        std::thread::sleep(Duration::from_millis(100));
        let button = |down: bool| json!({"type": "btn", "data": {"down": down, "button": "left"}});
        self.qmp.input(vec![button(true)]);
        std::thread::sleep(Duration::from_millis(100));
        self.qmp.input(vec![button(false)]);
    }

    /// The screen as the display shows it now.
    fn screen(&mut self, name: &str) -> Screen {
        let path = self.dir.join(format!("{name}.png"));
        self.qmp.execute(
            "screendump",
            json!({"filename": path.to_string_lossy(), "format": "png"}),
        );
        if let Some(keep) = std::env::var_os("PORTICO_APPLIANCE_SHOTS") {
            std::fs::create_dir_all(&keep).unwrap();
            let kept = format!("kms-{name}-{}x{}.png", SCREEN.0, SCREEN.1);
            std::fs::copy(&path, Path::new(&keep).join(kept)).unwrap();
        }
        Screen::read(&path)
    }

    /// Waits until the screen shows `colour` over most of its body.
    fn wait_screen(&mut self, name: &str, colour: Colour) -> Screen {
        let deadline = Instant::now() + STEP;
        loop {
            let screen = self.screen(name);
            if screen.body() == colour {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "screen {name} shows {:?}, expected {colour:?}",
                screen.body()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// Log text without terminal colours.
fn strip_ansi(text: &str) -> String {
    static ANSI: std::sync::LazyLock<regex::Regex> =
        std::sync::LazyLock::new(|| regex::Regex::new("\x1b\\[[0-9;]*m").unwrap());
    ANSI.replace_all(text, "").into_owned()
}

fn qcode(c: char) -> (String, bool) {
    match c {
        '\n' => ("ret".into(), false),
        ' ' => ("spc".into(), false),
        '-' => ("minus".into(), false),
        c if c.is_ascii_uppercase() => (c.to_ascii_lowercase().to_string(), true),
        c if c.is_ascii_alphanumeric() => (c.to_string(), false),
        c => panic!("no key for {c:?} in this test"),
    }
}

/// QEMU's machine protocol (QMP): one JSON command a line, answers between events.
struct Qmp {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
}

impl Qmp {
    fn connect(stream: UnixStream) -> Qmp {
        let mut qmp = Qmp {
            reader: BufReader::new(stream.try_clone().unwrap()),
            writer: stream,
        };
        qmp.answer(); // the greeting
        qmp.execute("qmp_capabilities", json!({}));
        qmp
    }

    fn answer(&mut self) -> Value {
        loop {
            let mut line = String::new();
            assert!(
                self.reader.read_line(&mut line).unwrap() > 0,
                "qemu closed QMP"
            );
            let v: Value = serde_json::from_str(&line).unwrap();
            if v.get("event").is_none() {
                return v;
            }
        }
    }

    fn execute(&mut self, command: &str, arguments: Value) -> Value {
        let request = json!({"execute": command, "arguments": arguments});
        writeln!(self.writer, "{request}").unwrap();
        let answer = self.answer();
        assert!(answer.get("error").is_none(), "{command}: {answer}");
        answer["return"].clone()
    }

    /// Input events for the devices bound to the screen (the wedge and the tablet).
    fn input(&mut self, events: Vec<Value>) {
        self.execute(
            "input-send-event",
            json!({"device": "screen", "events": events}),
        );
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Colour {
    /// The admit screen's green.
    Green,
    /// The deny screen's red.
    Red,
    /// The ready screen's dark blue (not the black of a console the gate has not drawn on).
    Ready,
    /// None of these.
    Other,
}

struct Screen {
    width: u32,
    height: u32,
    rgb: Vec<u8>,
}

impl Screen {
    fn read(path: &Path) -> Screen {
        let decoder = png::Decoder::new(BufReader::new(std::fs::File::open(path).unwrap()));
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        let channels = info.color_type.samples();
        let rgb = buf[..info.buffer_size()]
            .chunks(channels)
            .flat_map(|p| [p[0], p[1], p[2]])
            .collect();
        Screen {
            width: info.width,
            height: info.height,
            rgb,
        }
    }

    /// The colour most of the screen's body (below the title bar, above the footer) shows.
    fn body(&self) -> Colour {
        let (mut green, mut red, mut ready, mut all) = (0u32, 0u32, 0u32, 0u32);
        for y in (self.height / 8..self.height * 7 / 8).step_by(4) {
            for x in (0..self.width).step_by(4) {
                let i = ((y * self.width + x) * 3) as usize;
                let (r, g, b) = (self.rgb[i], self.rgb[i + 1], self.rgb[i + 2]);
                if g > 90 && r < 60 && b < 100 {
                    green += 1;
                } else if r > 140 && g < 80 && b < 80 {
                    red += 1;
                } else if b >= 30 && b >= r.saturating_add(20) && r < 40 {
                    ready += 1;
                }
                all += 1;
            }
        }
        if green * 2 > all {
            Colour::Green
        } else if red * 2 > all {
            Colour::Red
        } else if ready * 2 > all {
            Colour::Ready
        } else {
            Colour::Other
        }
    }
}

/// Credentials the replica admits today that the demo's own scans have not used.
struct Codes {
    membership: String,
    second_membership: String,
    ticket: String,
    second_ticket: String,
}

fn pick_codes(db: &Path) -> Codes {
    let conn = rusqlite::Connection::open(db).unwrap();
    let two = |sql: &str, what: &str| -> [String; 2] {
        let found: Vec<String> = conn
            .prepare(sql)
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        <[String; 2]>::try_from(found).unwrap_or_else(|f| panic!("two {what}: {f:?}"))
    };
    // Not among the scans the device has made (`use_key` is "membership:…" or "ticket:…");
    // a device that has never run its gate has no scan log yet.
    let logged = portico::replica::table_exists(&conn, "scans").unwrap();
    let used = if logged {
        "SELECT use_key FROM scans WHERE use_key IS NOT NULL"
    } else {
        "SELECT NULL WHERE 0"
    };
    let [membership, second_membership] = two(
        &format!(
            "SELECT membership_id FROM memberships
             WHERE status = 'active' AND start_date <= date('now')
               AND expiry_date > date('now', '+30 days') AND guest_allowance >= 1
               AND 'membership:' || membership_id NOT IN ({used})
             ORDER BY membership_id LIMIT 2"
        ),
        "active memberships with guests",
    );
    let [ticket, second_ticket] = two(
        &format!(
            "SELECT secret FROM tickets
             WHERE validity = 'open' AND status = 'valid' AND uses_allowed = 1
               AND 'ticket:' || secret NOT IN ({used})
             ORDER BY secret LIMIT 2"
        ),
        "unused single-use open tickets",
    );
    Codes {
        membership,
        second_membership,
        ticket,
        second_ticket,
    }
}

/// The demo's hub and synced device, made by the `portico demo` of this build.
fn demo_device(work: &Path, config: &str) -> PathBuf {
    portico(&["demo", "--headless"], work);
    let demo = work.join("portico-demo");
    let device = work.join("device");
    std::fs::create_dir_all(device.join("data")).unwrap();
    for entry in std::fs::read_dir(demo.join("device")).unwrap().flatten() {
        let name = entry.file_name();
        if name.to_string_lossy().starts_with("portico.db") {
            std::fs::copy(entry.path(), device.join("data").join(&name)).unwrap();
        }
    }
    std::fs::copy(demo.join("hub/ca.pem"), device.join("ca.pem")).unwrap();
    std::fs::copy(demo.join("device.token"), device.join("device.token")).unwrap();
    let here = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/appliance");
    std::fs::copy(here.join(config), device.join("gate.toml")).unwrap();
    device
}

/// What the VM has besides the gate's scanners and screen.
#[derive(Default)]
struct Machine {
    /// The GPIO simulator (`PORTICO_VM_GPIO_SIM`, a built module) with a chip for the gate.
    gpio: bool,
    /// A network interface on QEMU's user network.
    network: bool,
    /// The device's data directory on this disk image (ext4) rather than in the initramfs.
    disk: Option<PathBuf>,
}

/// The gate of `device` (a folder with `gate.toml`) booted in a VM, started and showing Ready.
fn boot_gate(work: &Path, device: &Path, machine: Machine) -> Vm {
    let kernel = PathBuf::from(
        std::env::var_os("PORTICO_VM_KERNEL")
            .expect("PORTICO_VM_KERNEL: an unpacked Debian linux-image package (.ci/appliance)"),
    );
    let initrd = work.join("initrd.gz");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/appliance/mkinitramfs.sh");
    let mut build = Command::new("bash");
    build
        .arg(&script)
        .arg(&kernel)
        .arg(env!("CARGO_BIN_EXE_portico"))
        .arg(device)
        .arg(&initrd);
    if machine.gpio {
        build.arg(
            std::env::var_os("PORTICO_VM_GPIO_SIM")
                .expect("PORTICO_VM_GPIO_SIM: the GPIO simulator module (.ci/appliance)"),
        );
    }
    assert!(build.status().unwrap().success(), "mkinitramfs.sh failed");

    let mut vm = Vm::boot(
        work,
        &kernel,
        &initrd,
        machine.network,
        machine.disk.as_deref(),
    );
    if machine.network {
        vm.wait_line(&["APPLIANCE: network up"], 1, BOOT);
    }
    if machine.disk.is_some() {
        vm.wait_line(&["APPLIANCE: data disk mounted"], 1, BOOT);
    }
    if machine.gpio {
        vm.wait_line(&["APPLIANCE: gpio chip"], 1, BOOT);
    }
    vm.wait_line(&["gate.toml: ok"], 1, BOOT);
    vm.wait_line(&["serial input connected /dev/ttyS1"], 1, BOOT);
    vm.wait_line(
        &["key input connected", "0627:0001", "(exclusive)"],
        1,
        BOOT,
    );
    vm.wait_line(&["Rendering at 1280x800"], 1, BOOT);
    let ready = vm.wait_screen("ready", Colour::Ready);
    assert_eq!((ready.width, ready.height), SCREEN);
    vm
}

/// What `portico status` said as the gate stopped.
struct Stopped {
    /// Outbox rows waiting for the hub.
    pending: u32,
    /// The "hub link" line.
    link: String,
}

/// Stops the gate as systemd would: its status first, then SIGTERM, which must end it cleanly.
fn stop(vm: &mut Vm) -> Stopped {
    vm.control.write_all(b"stop\n").unwrap();
    let outbox = vm.wait_line(&["outbox", "pending"], 1, STEP);
    let pending: u32 = outbox
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("outbox line: {outbox}"));
    let link = vm.wait_line(&["hub link"], 1, STEP);
    let exit = vm.wait_line(&["APPLIANCE: portico exited with"], 1, STEP);
    assert!(exit.ends_with("with 0"), "{exit}");
    let console = vm.console();
    assert!(!console.contains("panicked"), "{console}");
    Stopped { pending, link }
}

#[test]
#[ignore = "boots a VM: run by .ci/appliance (needs qemu, a Debian kernel and a kms build)"]
fn the_gate_admits_and_denies_through_real_kernel_drivers() {
    let work = tempfile::tempdir().unwrap();
    let device = demo_device(work.path(), "gate.toml");
    let codes = pick_codes(&device.join("data/portico.db"));
    let mut vm = boot_gate(work.path(), &device, Machine::default());

    // A member's card at the UART scanner: admitted, the relay board pulsed once, green.
    vm.scan_serial(codes.membership.as_bytes());
    let line = vm.wait_line(&["scan decided", "reader=uart-scanner"], 1, STEP);
    assert!(line.contains("outcome=Admit"), "{line}");
    vm.wait_pulses(1);
    vm.wait_screen("member-admitted", Colour::Green);

    // Staff tap "+" and "Confirm" on the touch panel: one guest more, one more opening.
    vm.tap(595, 646);
    std::thread::sleep(Duration::from_millis(300));
    vm.tap(1065, 646);
    let line = vm.wait_line(&["party size confirmed by staff", "guests_let_in"], 1, STEP);
    assert!(line.contains("party=2"), "{line}");
    vm.wait_pulses(2);

    // A single-use ticket typed by the USB wedge: admitted, pulsed.
    vm.scan_wedge(&codes.ticket);
    let line = vm.wait_line(&["scan decided", "reader=usb-wedge"], 1, STEP);
    assert!(line.contains("outcome=Admit"), "{line}");
    vm.wait_pulses(3);
    vm.wait_screen("ticket-admitted", Colour::Green);

    // The same ticket again: denied, red, and the turnstile stays shut.
    std::thread::sleep(Duration::from_secs(2));
    vm.scan_wedge(&codes.ticket);
    let line = vm.wait_line(&["scan decided", "reader=usb-wedge"], 2, STEP);
    assert!(line.contains("outcome=Deny"), "{line}");
    vm.wait_screen("ticket-used", Colour::Red);

    // Line noise at the UART (invalid UTF-8, then an overlong frame) is dropped or denied,
    // never a crash: the next member's card is admitted.
    vm.scan_serial(&[0xff, 0xfe, 0x80, b'M', 0xc3]);
    vm.scan_serial(&[b'7'; 4096]);
    vm.scan_serial(codes.second_membership.as_bytes());
    vm.wait_line(
        &["scan decided", "reader=uart-scanner", "outcome=Admit"],
        2,
        STEP,
    );
    vm.wait_pulses(4);

    let stopped = stop(&mut vm);
    assert!(stopped.link.contains("OFFLINE"), "{}", stopped.link);
    assert!(
        stopped.pending >= 4,
        "scans queued offline: {}",
        stopped.pending
    );
}

#[test]
#[ignore = "boots a VM: run by .ci/appliance (needs qemu, a Debian kernel, a kms build and the GPIO simulator)"]
fn the_gpio_turnstile_opens_and_a_use_nobody_takes_is_given_back() {
    let work = tempfile::tempdir().unwrap();
    let device = demo_device(work.path(), "gate-gpio.toml");
    let codes = pick_codes(&device.join("data/portico.db"));
    let gpio = Machine {
        gpio: true,
        ..Machine::default()
    };
    let mut vm = boot_gate(work.path(), &device, gpio);
    // Once the gate holds the relay line it rests low (inactive).
    vm.wait_line(&["APPLIANCE: relay line 0"], 1, STEP);
    let relay_opened = |vm: &Vm| vm.console().matches("APPLIANCE: relay line 1").count();

    // A ticket at the UART scanner: the relay line goes high, and the visitor walks through
    // while the turnstile is still unlocked (during the pulse): the use is confirmed.
    vm.scan_serial(codes.ticket.as_bytes());
    let line = vm.wait_line(&["scan decided", "reader=uart-scanner"], 1, STEP);
    assert!(line.contains("outcome=Admit"), "{line}");
    vm.wait_line(&["APPLIANCE: relay line 1"], 1, STEP);
    vm.control.write_all(b"pass\n").unwrap();
    vm.wait_line(&["passage confirmed"], 1, STEP);
    // The pulse may still be on when the passage is confirmed: wait for its end.
    vm.wait_line(&["APPLIANCE: relay line 0"], 2, STEP);
    let console = vm.console();
    let passed = console.find("APPLIANCE: control: pass").unwrap();
    let closed = console
        .match_indices("APPLIANCE: relay line 0")
        .nth(1)
        .unwrap()
        .0;
    assert!(
        passed < closed,
        "the test's passage came after the pulse:\n{console}"
    );
    assert!(!console.contains("no admission waiting"), "{console}");

    // Another ticket opens the gate but nobody goes through: after the sensor's timeout the
    // use is annulled, and the same ticket opens the gate again; this time the visitor goes
    // through after the pulse.
    vm.scan_serial(codes.second_ticket.as_bytes());
    vm.wait_line(
        &["scan decided", "reader=uart-scanner", "outcome=Admit"],
        2,
        STEP,
    );
    vm.wait_line(&["APPLIANCE: relay line 1"], 2, STEP);
    vm.wait_line(
        &["use annulled: the gate opened but nobody went through"],
        1,
        STEP,
    );
    vm.scan_serial(codes.second_ticket.as_bytes());
    vm.wait_line(
        &["scan decided", "reader=uart-scanner", "outcome=Admit"],
        3,
        STEP,
    );
    vm.wait_line(&["APPLIANCE: relay line 1"], 3, STEP);
    vm.wait_line(&["APPLIANCE: relay line 0"], 4, STEP);
    vm.control.write_all(b"pass\n").unwrap();
    vm.wait_line(&["passage confirmed"], 2, STEP);

    // Now it is used: refused, and the relay line stays low.
    std::thread::sleep(Duration::from_secs(2));
    vm.scan_serial(codes.second_ticket.as_bytes());
    let line = vm.wait_line(&["scan decided", "reader=uart-scanner"], 4, STEP);
    assert!(line.contains("outcome=Deny"), "{line}");
    vm.wait_screen("gpio-ticket-used", Colour::Red);
    assert_eq!(relay_opened(&vm), 3, "the relay opened for a refusal");

    // Four scans and the annulment wait for the hub.
    let stopped = stop(&mut vm);
    assert!(stopped.link.contains("OFFLINE"), "{}", stopped.link);
    assert!(
        stopped.pending >= 5,
        "rows queued offline: {}",
        stopped.pending
    );
}

/// A `portico hub serve` on the host; killed when dropped.
struct Hub {
    serve: Child,
    dir: PathBuf,
}

impl Hub {
    fn start(dir: &Path, port: u16) -> Hub {
        let log = std::fs::File::create(dir.join("serve.log")).unwrap();
        let serve = Command::new(host_portico())
            .args(["hub", "serve", "--dir"])
            .arg(dir)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let hub = Hub {
            serve,
            dir: dir.to_path_buf(),
        };
        hub.wait_log("listening", Duration::from_secs(30));
        hub
    }

    fn log(&self) -> String {
        strip_ansi(&std::fs::read_to_string(self.dir.join("serve.log")).unwrap_or_default())
    }

    fn wait_log(&self, part: &str, within: Duration) -> String {
        let deadline = Instant::now() + within;
        loop {
            if let Some(line) = self.log().lines().find(|l| l.contains(part)) {
                return line.to_owned();
            }
            assert!(
                Instant::now() < deadline,
                "hub log has no {part:?}:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Whether the hub has taken in the row with this idempotency key.
    fn has(&self, key: &str) -> bool {
        let conn = rusqlite::Connection::open(self.dir.join("hub.db")).unwrap();
        conn.query_row(
            "SELECT count(*) FROM inbox WHERE idempotency_key = ?1",
            [key],
            |r| r.get::<_, i64>(0),
        )
        .unwrap()
            == 1
    }

    /// `(kind, count)` of what the hub has taken in from `device`.
    fn inbox(&self, device: &str) -> Vec<(String, u32)> {
        let conn = rusqlite::Connection::open(self.dir.join("hub.db")).unwrap();
        conn.prepare(
            "SELECT kind, count(*) FROM inbox WHERE device_id = ?1 GROUP BY kind ORDER BY kind",
        )
        .unwrap()
        .query_map([device], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap()
    }
}

impl Drop for Hub {
    fn drop(&mut self) {
        let _ = self.serve.kill();
        let _ = self.serve.wait();
    }
}

/// Runs this build's `portico` in `dir`; it must succeed.
/// The `portico` the host runs for the demo and the hub: the appliance's own build has no hub,
/// so `.ci/appliance` builds one with it (`PORTICO_HOST_BIN`).
fn host_portico() -> PathBuf {
    PathBuf::from(
        std::env::var_os("PORTICO_HOST_BIN")
            .expect("PORTICO_HOST_BIN: a portico built with the hub (.ci/appliance)"),
    )
}

fn portico(args: &[&str], dir: &Path) {
    let out = Command::new(host_portico())
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "portico {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
#[ignore = "boots a VM: run by .ci/appliance (needs qemu, a Debian kernel and a kms build)"]
fn scans_made_while_the_hub_is_down_survive_a_power_cut_and_reach_it_once_it_is_back() {
    // A hub whose certificate also names 10.0.2.2, the host as QEMU's user network shows it.
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let hosts = [
        "--host",
        "localhost",
        "--host",
        "127.0.0.1",
        "--host",
        "10.0.2.2",
    ];
    portico(&[&["hub", "init", "--dir", "hub"][..], &hosts].concat(), w);
    portico(
        &["hub", "seed", "--dir", "hub", "--constituents", "1000"],
        w,
    );
    let device = w.join("device");
    std::fs::create_dir_all(device.join("data")).unwrap();
    portico(
        &[
            "hub",
            "add-device",
            "--dir",
            "hub",
            "vm-gate-1",
            "--token-out",
            "device/device.token",
        ],
        w,
    );
    std::fs::copy(w.join("hub/ca.pem"), device.join("ca.pem")).unwrap();

    // The device's first sync, on the host, before it is installed.
    let hub = Hub::start(&w.join("hub"), port);
    let here = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/appliance");
    let gate = std::fs::read_to_string(here.join("gate.toml")).unwrap();
    let offline_url = "url = \"https://hub.invalid:8443\"";
    assert!(gate.contains(offline_url));
    let on_host = gate.replace(offline_url, &format!("url = \"https://127.0.0.1:{port}\""));
    let host_config = device.join("first-sync.toml");
    let inputs = on_host.find("[gate.relay]").unwrap();
    std::fs::write(
        &host_config,
        format!("{}{}", &on_host[..inputs], CREDENTIALS),
    )
    .unwrap();
    portico(&["sync", "--config", "device/first-sync.toml"], w);
    std::fs::remove_file(&host_config).unwrap();
    let codes = pick_codes(&device.join("data/portico.db"));
    // In the VM the gate reaches the hub at 10.0.2.2, and retries uploads every few seconds.
    let in_vm = gate.replace(offline_url, &format!("url = \"https://10.0.2.2:{port}\""));
    std::fs::write(
        device.join("gate.toml"),
        in_vm.replace("[gate]", "[sync]\nretry_cap = \"3s\"\n\n[gate]"),
    )
    .unwrap();

    // The device's data directory goes on a disk of its own.
    let disk = w.join("data.img");
    make_disk(&device.join("data"), &disk);
    std::fs::remove_dir_all(device.join("data")).unwrap();
    let machine = || Machine {
        network: true,
        disk: Some(disk.clone()),
        ..Machine::default()
    };

    // The hub goes down; the gate boots and admits two visitors offline.
    drop(hub);
    let mut vm = boot_gate(w, &device, machine());
    vm.scan_serial(codes.ticket.as_bytes());
    vm.scan_wedge(&codes.membership);
    vm.wait_line(&["scan decided", "outcome=Admit"], 2, STEP);
    vm.wait_pulses(2);
    vm.wait_line(&["scan recorded"], 2, STEP);
    vm.wait_line(&["upload failed; rows kept for retry"], 1, STEP);

    // A queue at the scanner (codes the replica does not know, each refused), and the power
    // goes in the middle of it: QEMU is killed once ten scans are recorded, with more on their
    // way, and with it everything the guest had not written.
    for i in 0..20 {
        vm.scan_serial(format!("VISITOR-{i:04}").as_bytes());
    }
    vm.wait_line(&["scan recorded"], 10, STEP);
    let before = vm.cut_power();
    let acknowledged: Vec<String> = before
        .lines()
        .filter(|l| l.contains("scan recorded"))
        .map(key_of)
        .collect();
    assert!(acknowledged.len() >= 10, "{before}");

    // Power and the hub are back: the gate starts from what its disk kept, and the queued
    // scans reach the hub, once each.
    let hub = Hub::start(&w.join("hub"), port);
    let after = w.join("after-power-cut");
    std::fs::create_dir_all(&after).unwrap();
    let mut vm = boot_gate(&after, &device, machine());
    hub.wait_log("upload applied device=vm-gate-1", STEP);
    let stopped = stop(&mut vm);
    assert_eq!(stopped.pending, 0, "{}", vm.console());
    assert!(!stopped.link.contains("OFFLINE"), "{}", stopped.link);
    let inbox = hub.inbox("vm-gate-1");
    for key in &acknowledged {
        assert!(
            hub.has(key),
            "scan {key}, recorded before the power cut, is not at the hub; before:\n{before}"
        );
    }

    // The disk as the gate left it: its database is whole and holds each scan once.
    vm.wait_off(STEP);
    let db = dump_database(&disk, &w.join("after"));
    let conn = rusqlite::Connection::open(&db).unwrap();
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    for key in &acknowledged {
        let n: i64 = conn
            .query_row(
                "SELECT count(*) FROM scans WHERE outbox_key = ?1",
                [key],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(n, 1, "scan {key} in the gate's scan log");
    }
    // Every scan the disk kept went up once: the two admissions, and the queue up to the cut.
    // A few more than were logged may have committed (a "scan recorded" line can still be on
    // its way through the guest's serial port when the power goes), never more than were fed.
    let logged: u32 = conn
        .query_row("SELECT count(*) FROM scans", [], |r| r.get(0))
        .unwrap();
    eprintln!(
        "power cut: {} scans acknowledged, {logged} on the disk",
        acknowledged.len()
    );
    assert!(
        (acknowledged.len()..=22).contains(&(logged as usize)),
        "{logged} scans, {} acknowledged",
        acknowledged.len()
    );
    assert!(inbox.contains(&("scan".to_owned(), logged)), "{inbox:?}");
}

/// The outbox key a "scan recorded" line names.
fn key_of(line: &str) -> String {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix("key="))
        .unwrap_or_else(|| panic!("no key in {line:?}"))
        .to_owned()
}

/// An ext4 disk image holding the files of `dir`, as the VM's data disk.
fn make_disk(dir: &Path, image: &Path) {
    let out = Command::new("mke2fs")
        .args(["-q", "-F", "-t", "ext4", "-L", "portico-data", "-d"])
        .arg(dir)
        .arg(image)
        .arg("64M")
        .output()
        .expect("mke2fs (Debian package e2fsprogs)");
    assert!(
        out.status.success(),
        "mke2fs: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The gate's database read out of the (unmounted) data disk into `dir`, with its WAL if the
/// gate left one.
fn dump_database(image: &Path, dir: &Path) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    for name in ["portico.db", "portico.db-wal"] {
        let out = Command::new("debugfs")
            .arg("-R")
            .arg(format!("dump /{name} {}", dir.join(name).to_string_lossy()))
            .arg(image)
            .output()
            .expect("debugfs (Debian package e2fsprogs)");
        assert!(
            out.status.success(),
            "debugfs: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let db = dir.join("portico.db");
    assert!(db.exists(), "no portico.db on the data disk");
    db
}

/// The credentials section of the appliance configs.
const CREDENTIALS: &str = "[credentials]\nmembership_regex = \"^M[0-9]{7}$\"\n";

// ----- the Debian package under systemd ---------------------------------------------------

/// A device's files for the package test: its config (a gate, the hub unreachable), the hub's
/// CA and its token.
fn package_payload(dir: &Path, deb: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::copy(deb, dir.join("portico.deb")).unwrap();
    let pki = portico::tls::generate_pki("Venue CA", &["hub.venue.example".into()]).unwrap();
    std::fs::write(dir.join("hub-ca.pem"), pki.ca_cert_pem).unwrap();
    std::fs::write(dir.join("device.token"), "tok-package-test-0123456789").unwrap();
    std::fs::write(
        dir.join("device.toml"),
        r#"[device]
id = "gate-package"
roles = ["gate"]
data_dir = "/var/lib/portico"

[upstream]
url = "https://10.0.2.2:8443"
ca_cert = "/etc/portico/hub-ca.pem"
token_file = "/etc/portico/device.token"

[gate]
name = "North"
"#,
    )
    .unwrap();
}

#[test]
#[ignore = "boots a VM: run by .ci/appliance (needs qemu, a Debian kernel, systemd and the package `cargo deb` made)"]
fn the_debian_package_installs_and_its_unit_starts_under_systemd() {
    let kernel = PathBuf::from(
        std::env::var_os("PORTICO_VM_KERNEL")
            .expect("PORTICO_VM_KERNEL: an unpacked Debian linux-image package (.ci/appliance)"),
    );
    let deb = PathBuf::from(
        std::env::var_os("PORTICO_DEB").expect("PORTICO_DEB: the package (.ci/appliance)"),
    );
    let work = tempfile::tempdir().unwrap();
    let payload = work.path().join("payload");
    package_payload(&payload, &deb);
    let initrd = work.path().join("initrd.gz");
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/appliance/mkinitramfs-package.sh");
    let built = Command::new("bash")
        .arg(&script)
        .arg(&kernel)
        .arg(&payload)
        .arg(&initrd)
        .status()
        .unwrap();
    assert!(built.success(), "mkinitramfs-package.sh failed");
    let vmlinuz = std::fs::read_dir(kernel.join("boot"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().contains("vmlinuz-"))
        .expect("a vmlinuz in the kernel package");
    // This machine's own Debian system, read-only over virtio-9p, booted under systemd.
    let console = work.path().join("console.log");
    let mut qemu = Command::new("qemu-system-x86_64")
        .args(["-accel", "tcg", "-m", "2048", "-smp", "2", "-no-reboot"])
        .arg("-kernel")
        .arg(&vmlinuz)
        .arg("-initrd")
        .arg(&initrd)
        .args(["-append", "console=ttyS0 panic=-1 fstab=no"])
        .args(["-display", "none", "-vga", "none", "-nic", "none"])
        .args([
            "-virtfs",
            "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap",
        ])
        .arg("-serial")
        .arg(format!("file:{}", console.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("qemu-system-x86_64");
    let read = || std::fs::read_to_string(&console).unwrap_or_default();
    let deadline = Instant::now() + Duration::from_secs(900);
    while Instant::now() < deadline && !read().contains("PORTICO-PACKAGE: done") {
        if let Ok(Some(_)) = qemu.try_wait() {
            break;
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    let _ = qemu.kill();
    let _ = qemu.wait();
    let text = read();
    let said: Vec<&str> = text
        .lines()
        .filter_map(|l| l.trim_end_matches('\r').strip_prefix("PORTICO-PACKAGE: "))
        .collect();
    let tail: String = text
        .lines()
        .rev()
        .take(60)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect::<Vec<_>>()
        .join("\n");
    let has = |want: &str| {
        assert!(
            said.iter().any(|l| l.starts_with(want)),
            "{want:?} not said: {said:?}\n{tail}"
        )
    };
    has("installed");
    // The package made the service user, in the groups that own a gate's devices.
    let user = said.iter().find(|l| l.starts_with("user ")).unwrap();
    for group in ["(input)", "(dialout)", "(gpio)", "(video)", "(lp)"] {
        assert!(user.contains(group), "{user}");
    }
    has("config folder 750 root:portico token 600 portico:portico");
    // Started by the package, Type=notify: active only once it said READY=1.
    has("state active");
    has("enabled enabled");
    has("type notify watchdog 20s");
    // A minute later still running and never restarted: the watchdog keeps being pinged.
    has("later active restarts 0");
    has("status answered");
    assert!(
        text.lines()
            .any(|l| l.starts_with("status: device") && l.contains("gate-package")),
        "{tail}"
    );
    // With LoadCredential= the token file may be root's: the daemon starts with systemd's copy.
    has("credential active file unreadable for the service user");
}
