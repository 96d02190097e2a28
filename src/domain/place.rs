//! Where a case happened, and when two cases happened at the same place: the rule behind merge
//! suggestions (并单) and hot-spot clusters (共性问题). Pure.

use super::ids::DepartmentId;

/// About 500 m in degrees of latitude; longitude is treated alike (close enough at this scale).
pub const NEAR: f64 = 0.0045;

/// An address's key: the first 8 bytes of its SHA-256, as a big-endian signed integer. Stored
/// beside the address (PostgreSQL computes the same in the migration that added it), so that
/// reads of many cases compare addresses without reading them; stable across versions.
pub fn address_key(address: &str) -> i64 {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(address.as_bytes());
    i64::from_be_bytes(
        digest[..8]
            .try_into()
            .expect("a SHA-256 digest has 32 bytes"),
    )
}

/// The place of a case as the registration gave it.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Place<'a> {
    pub district: Option<DepartmentId>,
    pub address: Option<&'a str>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
}

impl Place<'_> {
    /// The product's place test (merge suggestions): the same district, the same address, or
    /// within about 500 m.
    pub fn same_place(&self, other: &Place<'_>) -> bool {
        (self.district.is_some() && self.district == other.district) || self.same_spot(other)
    }

    /// The finer half of [`Place::same_place`]: the same address or within about 500 m. A
    /// district is a whole 区: on a busy day every category has cases in every district, so
    /// clusters of one district's cases need this.
    pub fn same_spot(&self, other: &Place<'_>) -> bool {
        let same_address = matches!(
            (self.address, other.address),
            (Some(a), Some(b)) if a == b
        );
        same_address || self.near(other)
    }

    fn near(&self, other: &Place<'_>) -> bool {
        match (
            self.latitude,
            self.longitude,
            other.latitude,
            other.longitude,
        ) {
            (Some(lat1), Some(lon1), Some(lat2), Some(lon2)) => {
                (lat1 - lat2).abs() <= NEAR && (lon1 - lon2).abs() <= NEAR
            }
            _ => false,
        }
    }

    /// Whether anything finer than the district is known.
    pub fn has_spot(&self) -> bool {
        self.address.is_some() || (self.latitude.is_some() && self.longitude.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_key_is_the_start_of_its_sha256() {
        // sha256("朝阳路1号") starts e39ab689a85ec2af; PostgreSQL's
        // ('x' || substr(encode(sha256(...), 'hex'), 1, 16))::bit(64)::bigint gives this value.
        assert_eq!(address_key("朝阳路1号"), -2046122378334911825);
        assert_ne!(address_key("朝阳路1号"), address_key("朝阳路2号"));
    }

    fn at(lat: f64, lon: f64) -> Place<'static> {
        Place {
            latitude: Some(lat),
            longitude: Some(lon),
            ..Place::default()
        }
    }

    #[test]
    fn the_same_spot_is_the_same_address_or_within_about_500_m() {
        let a = Place {
            address: Some("东城区东华门街道某小区北门"),
            ..Place::default()
        };
        let b = Place {
            address: Some("东城区东华门街道某小区北门"),
            ..Place::default()
        };
        let c = Place {
            address: Some("东城区东华门街道某小区南门"),
            ..Place::default()
        };
        assert!(a.same_spot(&b));
        assert!(!a.same_spot(&c));
        assert!(at(39.9, 116.4).same_spot(&at(39.904, 116.3956)));
        assert!(!at(39.9, 116.4).same_spot(&at(39.905, 116.4)));
        assert!(!at(39.9, 116.4).same_spot(&Place::default()));
        // Nothing known is never the same as nothing known.
        assert!(!Place::default().same_spot(&Place::default()));
        assert!(!Place::default().has_spot());
        assert!(a.has_spot() && at(1.0, 2.0).has_spot());
    }

    #[test]
    fn the_same_place_also_takes_the_same_district() {
        let district = |id| Place {
            district: Some(DepartmentId(id)),
            ..Place::default()
        };
        assert!(district(1).same_place(&district(1)));
        assert!(!district(1).same_place(&district(2)));
        assert!(!district(1).same_spot(&district(1)));
        assert!(!Place::default().same_place(&Place::default()));
    }
}
