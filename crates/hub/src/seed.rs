//! Deterministic synthetic venue data for the reference hub: constituents with several emails,
//! phones and addresses of different types, memberships, tickets, a catalog, volunteer jobs,
//! and some duplicates merged away. The same seed and anchor date give the same data.

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, TimeZone, Utc};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::store::{HubStore, Result, Seq, merge_in, put, put_membership};
use portico_core::domain::{ConstituentStatus, MembershipStatus, ProductKind, TicketStatus};
use portico_core::protocol::{
    AddressDto, ConstituentDto, ContactMetaDto, EmailDto, HistoricalNameDto, MembershipDto,
    NameDto, PhoneDto, ProductDto, Resource, TicketDto, ValidityDto,
};

#[derive(Debug, Clone)]
pub struct SeedSpec {
    pub constituents: usize,
    pub seed: u64,
    /// "Today" for the generated validity dates.
    pub anchor: NaiveDate,
    /// Tickets to generate; `None`: a quarter of the constituents.
    pub tickets: Option<usize>,
    /// Share of constituents (per mille) that get a duplicate which is then merged away.
    pub merges_per_mille: u32,
    /// Days of timed-entry slots published for the kiosks, from the anchor date.
    pub catalog_days: u32,
    /// Extra kiosk products beyond the zoo's own (for measuring a large catalog).
    pub extra_products: usize,
}

impl SeedSpec {
    pub fn new(constituents: usize, seed: u64, anchor: NaiveDate) -> Self {
        Self {
            constituents,
            seed,
            anchor,
            tickets: None,
            merges_per_mille: 5,
            catalog_days: 30,
            extra_products: 0,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct SeedReport {
    pub constituents: usize,
    pub memberships: usize,
    pub tickets: usize,
    pub products: usize,
    pub merges: usize,
    /// Timed-entry slots published.
    pub slots: usize,
    /// Volunteer events and shifts published.
    pub volunteer_events: usize,
    pub shifts: usize,
}

const FIRST: &[&str] = &[
    "James",
    "Mary",
    "Robert",
    "Patricia",
    "John",
    "Jennifer",
    "Michael",
    "Linda",
    "David",
    "Elizabeth",
    "William",
    "Barbara",
    "Richard",
    "Susan",
    "Joseph",
    "Jessica",
    "Thomas",
    "Sarah",
    "Charles",
    "Karen",
    "Christopher",
    "Lisa",
    "Daniel",
    "Nancy",
    "Matthew",
    "Betty",
    "Anthony",
    "Margaret",
    "Mark",
    "Sandra",
    "Donald",
    "Ashley",
    "Steven",
    "Kimberly",
    "Paul",
    "Emily",
    "Andrew",
    "Donna",
    "Joshua",
    "Michelle",
    "Kenneth",
    "Carol",
    "Kevin",
    "Amanda",
    "Brian",
    "Dorothy",
    "George",
    "Melissa",
    "Timothy",
    "Deborah",
    "Ronald",
    "Stephanie",
    "Edward",
    "Rebecca",
    "Jason",
    "Sharon",
    "Jeffrey",
    "Laura",
    "Ryan",
    "Cynthia",
    "Jacob",
    "Kathleen",
    "Gary",
    "Amy",
    "Nicholas",
    "Angela",
    "Eric",
    "Shirley",
    "Jonathan",
    "Anna",
    "Stephen",
    "Brenda",
    "Larry",
    "Pamela",
    "Justin",
    "Emma",
    "Scott",
    "Nicole",
    "Brandon",
    "Helen",
    "Benjamin",
    "Samantha",
    "Samuel",
    "Katherine",
    "Gregory",
    "Christine",
    "Alexander",
    "Debra",
    "Frank",
    "Rachel",
    "Patrick",
    "Carolyn",
    "Raymond",
    "Janet",
    "Jack",
    "Catherine",
    "Dennis",
    "Maria",
    "Jerry",
    "Heather",
    "José",
    "Zoë",
    "Renée",
    "Søren",
    "Chloé",
    "Siobhán",
    "Björn",
    "Mei",
    "Hiroshi",
    "Aisha",
    "Mohammed",
    "Priya",
    "Raj",
    "Fatima",
    "Olga",
    "Ivan",
    "Lucía",
];

/// Surnames of the synthetic population (also used by the matching benchmark).
pub const LAST: &[&str] = &[
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Gonzalez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Perez",
    "Thompson",
    "White",
    "Harris",
    "Sanchez",
    "Clark",
    "Ramirez",
    "Lewis",
    "Robinson",
    "Walker",
    "Young",
    "Allen",
    "King",
    "Wright",
    "Scott",
    "Torres",
    "Nguyen",
    "Hill",
    "Flores",
    "Green",
    "Adams",
    "Nelson",
    "Baker",
    "Hall",
    "Rivera",
    "Campbell",
    "Mitchell",
    "Carter",
    "Roberts",
    "Gomez",
    "Phillips",
    "Evans",
    "Turner",
    "Diaz",
    "Parker",
    "Cruz",
    "Edwards",
    "Collins",
    "Reyes",
    "Stewart",
    "Morris",
    "Morales",
    "Murphy",
    "Cook",
    "Rogers",
    "Gutierrez",
    "Ortiz",
    "Morgan",
    "Cooper",
    "Peterson",
    "Bailey",
    "Reed",
    "Kelly",
    "Howard",
    "Ramos",
    "Kim",
    "Cox",
    "Ward",
    "Richardson",
    "Watson",
    "Brooks",
    "Chavez",
    "Wood",
    "James",
    "Bennett",
    "Gray",
    "Mendoza",
    "Ruiz",
    "Hughes",
    "Price",
    "Alvarez",
    "Castillo",
    "Sanders",
    "Patel",
    "Myers",
    "Long",
    "Ross",
    "Foster",
    "Jiménez",
    "O'Brien",
    "Müller",
    "Van der Berg",
    "Østergaard",
    "Nuñez",
    "D'Angelo",
    "Smith-Jones",
    "MacDonald",
];

const STREETS: &[&str] = &[
    "Main St",
    "Oak Ave",
    "Maple Dr",
    "Cedar Ln",
    "Park Rd",
    "Elm St",
    "Washington Blvd",
    "Lake Shore Dr",
    "Hillcrest Rd",
    "River Rd",
    "Sunset Blvd",
    "Church St",
    "Mill Ln",
    "Highland Ave",
    "Forest Way",
    "Spring St",
    "Meadow Ct",
    "Franklin Ave",
    "Jefferson St",
];

/// (city, region, postcode prefix, area code)
const CITIES: &[(&str, &str, &str, &str)] = &[
    ("Springfield", "IL", "627", "217"),
    ("Madison", "WI", "537", "608"),
    ("Portland", "OR", "972", "503"),
    ("Austin", "TX", "787", "512"),
    ("Burlington", "VT", "054", "802"),
    ("Boulder", "CO", "803", "303"),
    ("Ann Arbor", "MI", "481", "734"),
    ("Asheville", "NC", "288", "828"),
    ("Savannah", "GA", "314", "912"),
    ("Santa Fe", "NM", "875", "505"),
];

const DOMAINS: &[&str] = &[
    "friends.example",
    "mail.example.com",
    "post.example.net",
    "inbox.example",
    "example.edu",
];

/// (name, guest allowance, price in cents)
const LEVELS: &[(&str, u32, i64)] = &[
    ("Individual", 0, 6500),
    ("Dual", 1, 9500),
    ("Family", 2, 12500),
    ("Family Plus", 4, 16000),
    ("Patron", 4, 50000),
];

pub const JOBS: &[&str] = &[
    "Gallery Guide",
    "Education Assistant",
    "Front Desk",
    "Garden Crew",
    "Event Support",
    "Archive Helper",
    "Animal Care Aide",
];

fn pick<'a, T>(rng: &mut ChaCha8Rng, items: &'a [T]) -> &'a T {
    &items[rng.random_range(0..items.len())]
}

pub fn lookup_id(i: usize) -> String {
    format!("8-{:08}", 10_000_000 + i)
}

fn meta(
    kind: &str,
    primary: bool,
    active: bool,
    start: Option<NaiveDate>,
    end: Option<NaiveDate>,
) -> ContactMetaDto {
    ContactMetaDto {
        kind: kind.to_owned(),
        primary,
        active,
        start,
        end,
    }
}

fn ascii_slug(s: &str) -> String {
    s.chars()
        .filter_map(|c| {
            let c = match c {
                'é' | 'è' | 'ë' => 'e',
                'ó' | 'ø' | 'Ø' => 'o',
                'á' => 'a',
                'í' => 'i',
                'ñ' => 'n',
                'ü' => 'u',
                c => c,
            };
            c.is_ascii_alphanumeric().then(|| c.to_ascii_lowercase())
        })
        .collect()
}

/// One synthetic constituent, a pure function of (rng state, index).
pub fn constituent(rng: &mut ChaCha8Rng, i: usize, anchor: NaiveDate) -> ConstituentDto {
    let first = *pick(rng, FIRST);
    let last = *pick(rng, LAST);
    let (city, region, zip, area) = *pick(rng, CITIES);
    let since = anchor - Duration::days(rng.random_range(30..3650));
    let slug = format!("{}.{}{}", ascii_slug(first), ascii_slug(last), i % 1000);

    let email_kinds = ["Personal", "Work", "School"];
    let n_emails = [1, 1, 2, 2, 3][rng.random_range(0..5)];
    let mut emails = Vec::new();
    for k in 0..n_emails {
        let kind = email_kinds[k % email_kinds.len()];
        emails.push(EmailDto {
            address: format!(
                "{slug}{}@{}",
                if k == 0 { String::new() } else { k.to_string() },
                pick(rng, DOMAINS)
            ),
            meta: meta(kind, k == 0, true, Some(since), None),
        });
    }
    // Some people changed their personal email: the old one is inactive with an end date.
    if rng.random_ratio(1, 8) {
        emails.push(EmailDto {
            address: format!("{slug}.old@{}", pick(rng, DOMAINS)),
            meta: meta(
                "Personal",
                false,
                false,
                Some(since - Duration::days(900)),
                Some(since),
            ),
        });
    }

    let phone_kinds = ["Mobile", "Home", "Work"];
    let n_phones = [0, 1, 1, 2, 2, 3][rng.random_range(0..6)];
    let mut phones = Vec::new();
    for (k, kind) in phone_kinds.iter().enumerate().take(n_phones) {
        let number = format!(
            "({area}) {:03}-{:04}",
            rng.random_range(200..999),
            rng.random_range(0..10_000)
        );
        phones.push(PhoneDto {
            number,
            meta: meta(kind, k == 0, true, Some(since), None),
        });
    }

    let n_addresses = [1, 1, 1, 2][rng.random_range(0..4)];
    let mut addresses = Vec::new();
    for k in 0..n_addresses {
        addresses.push(AddressDto {
            line1: format!("{} {}", rng.random_range(1..9999), pick(rng, STREETS)),
            line2: rng
                .random_ratio(1, 6)
                .then(|| format!("Apt {}", rng.random_range(1..40))),
            city: city.to_owned(),
            region: Some(region.to_owned()),
            postcode: Some(format!("{zip}{:02}", rng.random_range(0..100))),
            country: "US".to_owned(),
            meta: meta(
                ["Home", "Work", "Seasonal"][k],
                k == 0,
                true,
                Some(since),
                None,
            ),
        });
    }

    let historical_names = if rng.random_ratio(1, 20) {
        vec![HistoricalNameDto {
            name: NameDto {
                first: first.to_owned(),
                last: (*pick(rng, LAST)).to_owned(),
                ..NameDto::default()
            },
            until: Some(since),
        }]
    } else {
        Vec::new()
    };

    ConstituentDto {
        lookup_id: lookup_id(i),
        name: NameDto {
            title: rng.random_ratio(1, 10).then(|| "Dr.".to_owned()),
            first: first.to_owned(),
            middle: rng
                .random_ratio(1, 4)
                .then(|| ["A.", "J.", "Marie", "Lee"][rng.random_range(0..4)].to_owned()),
            last: last.to_owned(),
            suffix: rng.random_ratio(1, 40).then(|| "Jr.".to_owned()),
        },
        birth_date: rng.random_ratio(7, 10).then(|| {
            NaiveDate::from_ymd_opt(
                rng.random_range(1935..2008),
                rng.random_range(1..13),
                rng.random_range(1..29),
            )
            .unwrap_or(anchor)
        }),
        status: if rng.random_ratio(1, 200) {
            ConstituentStatus::Deceased
        } else {
            ConstituentStatus::Active
        },
        historical_names,
        emails,
        phones,
        addresses,
    }
}

pub fn catalog() -> Vec<ProductDto> {
    let mut products = vec![
        ("adult", "Adult admission", ProductKind::Ticket, 0, 2400),
        (
            "child",
            "Child admission (3-12)",
            ProductKind::Ticket,
            0,
            1400,
        ),
        (
            "senior",
            "Senior admission (65+)",
            ProductKind::Ticket,
            0,
            1900,
        ),
        ("guest", "Member guest", ProductKind::Ticket, 1200, 2400),
        (
            "planetarium",
            "Planetarium show",
            ProductKind::Addon,
            500,
            800,
        ),
        ("parking", "Parking", ProductKind::Addon, 0, 1000),
    ];
    let levels: Vec<_> = LEVELS
        .iter()
        .map(|(name, _, price)| (*name, *name, ProductKind::Membership, *price, *price))
        .collect();
    products.extend(levels);
    products
        .into_iter()
        .map(|(id, name, kind, member, non_member)| ProductDto {
            product_id: format!("p-{}", ascii_slug(id)),
            name: name.to_owned(),
            kind,
            currency: "USD".to_owned(),
            member_price: member,
            non_member_price: non_member,
            active: true,
            sale: None,
        })
        .collect()
}

pub fn ticket_secret(rng: &mut impl Rng) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    (0..16)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

/// Fills the store. Writes in batches of one transaction each so memory stays flat.
pub fn seed(store: &HubStore, spec: &SeedSpec) -> Result<SeedReport> {
    store.bulk(true)?;
    let report = seed_all(store, spec);
    store.bulk(false)?;
    report
}

fn seed_all(store: &HubStore, spec: &SeedSpec) -> Result<SeedReport> {
    let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
    let mut report = SeedReport::default();
    let anchor = spec.anchor;
    let merge_at: DateTime<Utc> =
        Utc.from_utc_datetime(&anchor.and_time(NaiveTime::MIN)) - Duration::days(1);

    store.write(|tx, seq| {
        for p in catalog() {
            put(
                tx,
                seq,
                Resource::Catalog,
                &p.product_id.clone(),
                Some(&serde_json::to_string(&p)?),
            )?;
            report.products += 1;
        }
        let kiosk =
            crate::catalog::publish(tx, seq, anchor, spec.catalog_days, spec.extra_products)?;
        report.products += kiosk.products;
        report.slots = kiosk.slots;
        for job in JOBS {
            crate::volunteers::put_job(tx, seq, job)?;
        }
        // The volunteers: the first records, three to a shift in turn.
        let volunteers: Vec<String> = (0..spec.constituents.min(12)).map(lookup_id).collect();
        if !volunteers.is_empty() {
            let (events, shifts) = crate::volunteers::publish(
                tx,
                seq,
                anchor,
                spec.catalog_days.min(14),
                &volunteers,
            )?;
            report.volunteer_events = events;
            report.shifts = shifts;
        }
        Ok(())
    })?;

    const BATCH: usize = 20_000;
    let mut duplicates: Vec<(usize, usize)> = Vec::new();
    let mut next_extra = spec.constituents;
    let mut i = 0;
    while i < spec.constituents {
        let end = (i + BATCH).min(spec.constituents);
        store.write(|tx, seq: &mut Seq| {
            for idx in i..end {
                let c = constituent(&mut rng, idx, anchor);
                put(
                    tx,
                    seq,
                    Resource::Constituents,
                    &c.lookup_id,
                    Some(&serde_json::to_string(&c)?),
                )?;
                report.constituents += 1;

                // A duplicate made at a kiosk with a different email: merged away later.
                if rng.random_range(0..1000) < spec.merges_per_mille {
                    let mut dup = c.clone();
                    dup.lookup_id = lookup_id(next_extra);
                    dup.emails.truncate(1);
                    if let Some(e) = dup.emails.first_mut() {
                        e.address = format!("dup{}.{}", next_extra, e.address);
                    }
                    dup.historical_names.clear();
                    put(
                        tx,
                        seq,
                        Resource::Constituents,
                        &dup.lookup_id,
                        Some(&serde_json::to_string(&dup)?),
                    )?;
                    duplicates.push((next_extra, idx));
                    next_extra += 1;
                    report.constituents += 1;
                }

                if rng.random_ratio(2, 5) {
                    let (level, guests, _) = *pick(&mut rng, LEVELS);
                    let mut members = vec![c.lookup_id.clone()];
                    if guests > 0 && idx + 1 < spec.constituents && rng.random_ratio(1, 3) {
                        members.push(lookup_id(idx + 1));
                    }
                    let expiry = anchor + Duration::days(rng.random_range(-120..400));
                    let status = match rng.random_range(0..40) {
                        0 => MembershipStatus::Cancelled,
                        1 => MembershipStatus::Pending,
                        _ if expiry < anchor => MembershipStatus::Lapsed,
                        _ => MembershipStatus::Active,
                    };
                    let m = MembershipDto {
                        membership_id: format!("M{:07}", 1_000_000 + idx),
                        level: level.to_owned(),
                        status,
                        start: expiry - Duration::days(365),
                        expiry,
                        members,
                        guest_allowance: guests,
                    };
                    put_membership(tx, seq, &m)?;
                    report.memberships += 1;
                }
            }
            Ok(())
        })?;
        i = end;
    }

    // A duplicate that held a membership moves it to the survivor, as the CRM's merge does.
    store.write(|tx, seq| {
        for (dup, original) in &duplicates {
            merge_in(tx, seq, &lookup_id(*dup), &lookup_id(*original), merge_at)?;
            report.merges += 1;
        }
        Ok(())
    })?;

    let products = catalog();
    let ticket_products: Vec<_> = products
        .iter()
        .filter(|p| p.kind == ProductKind::Ticket)
        .collect();
    let n_tickets = spec.tickets.unwrap_or(spec.constituents / 4);
    let mut t = 0;
    while t < n_tickets {
        let end = (t + BATCH).min(n_tickets);
        store.write(|tx, seq| {
            for _ in t..end {
                let product = pick(&mut rng, &ticket_products);
                let day = anchor + Duration::days(rng.random_range(-2..30));
                let validity = match rng.random_range(0..10) {
                    0..=5 => ValidityDto::Date { date: day },
                    6..=8 => {
                        let hour = rng.random_range(9..17);
                        let start = day
                            .and_hms_opt(hour, [0, 30][rng.random_range(0..2)], 0)
                            .unwrap_or_default();
                        ValidityDto::Slot {
                            start,
                            end: start + Duration::minutes(30),
                        }
                    }
                    _ => ValidityDto::Open,
                };
                let ticket = TicketDto {
                    secret: ticket_secret(&mut rng),
                    product_id: product.product_id.clone(),
                    validity,
                    uses_allowed: if rng.random_ratio(1, 10) { 2 } else { 1 },
                    status: if rng.random_ratio(1, 100) {
                        TicketStatus::Revoked
                    } else {
                        TicketStatus::Valid
                    },
                    holder: rng
                        .random_ratio(1, 2)
                        .then(|| lookup_id(rng.random_range(0..spec.constituents.max(1)))),
                };
                put(
                    tx,
                    seq,
                    Resource::Tickets,
                    &ticket.secret.clone(),
                    Some(&serde_json::to_string(&ticket)?),
                )?;
                report.tickets += 1;
            }
            Ok(())
        })?;
        t = end;
    }
    Ok(report)
}

/// Changes `n` existing constituents the way a CRM's day does: a new phone, a changed name, a
/// new email. Returns the Lookup IDs changed.
pub fn mutate(store: &HubStore, n: usize, population: usize, seed: u64) -> Result<Vec<String>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5eed_c0de);
    let mut changed = Vec::with_capacity(n);
    store.write(|tx, seq| {
        let mut tries = 0;
        while changed.len() < n && tries < n * 4 + 16 {
            tries += 1;
            let id = lookup_id(rng.random_range(0..population.max(1)));
            let doc: Option<String> = tx
                .prepare_cached("SELECT doc FROM records WHERE resource = 'constituents' AND key = ?1 AND deleted = 0")?
                .query_row([&id], |r| r.get(0))
                .ok();
            let Some(doc) = doc else { continue };
            let mut c: ConstituentDto = serde_json::from_str(&doc)?;
            if c.status == ConstituentStatus::Merged || changed.contains(&id) {
                continue;
            }
            match rng.random_range(0..3) {
                0 => c.phones.push(PhoneDto {
                    number: format!("(555) {:03}-{:04}", rng.random_range(200..999), rng.random_range(0..10_000)),
                    meta: meta("Mobile", c.phones.is_empty(), true, None, None),
                }),
                1 => c.name.last = (*pick(&mut rng, LAST)).to_owned(),
                _ => c.emails.push(EmailDto {
                    address: format!("new{}@{}", rng.random_range(0..1_000_000), pick(&mut rng, DOMAINS)),
                    meta: meta("Work", c.emails.is_empty(), true, None, None),
                }),
            }
            put(tx, seq, Resource::Constituents, &id, Some(&serde_json::to_string(&c)?))?;
            changed.push(id);
        }
        Ok(())
    })?;
    Ok(changed)
}
