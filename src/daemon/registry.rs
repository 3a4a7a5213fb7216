//! Registry requests of the API (devices and topology levels): validate, apply to the
//! fencer, and answer. A device's agent must exist when it is registered.

use std::path::PathBuf;

use serde_json::Value;

use crate::api::protocol::{
    is_secret, ApiError, DeviceInfo, DevicesResult, ErrorCode, LevelsResult, Request, Response,
    TargetHealth, TopologyEntry,
};
use crate::fencer::device::DeviceSpec;
use crate::fencer::executor::resolve_agent;
use crate::fencer::machine::{Fencer, Notice};

/// Answer a registry request; the notice (if any) is for subscribers.
pub fn handle(
    fencer: &mut Fencer,
    agent_dirs: &[PathBuf],
    request: Request,
    id: Value,
) -> (Response, Option<Notice>) {
    let fail = |id: Value, code: ErrorCode, message: String| {
        (Response::failure(id, ApiError::new(code, message)), None)
    };
    match request {
        Request::Devices {} => {
            let devices = fencer
                .devices()
                .values()
                .map(|spec| DeviceInfo {
                    health: fencer.device_health(&spec.name).cloned(),
                    ..device_info(spec)
                })
                .collect();
            let targets = fencer
                .fenceability()
                .into_iter()
                .map(|(target, fenceable)| TargetHealth { target, fenceable })
                .collect();
            (
                Response::success(id, &DevicesResult { devices, targets }),
                None,
            )
        }
        Request::RegisterDevice {
            name,
            agent,
            params,
            priority,
        } => {
            let spec = match DeviceSpec::new(&name, &agent, &params, priority) {
                Ok(spec) => spec,
                Err(e) => return fail(id, ErrorCode::Invalid, e.to_string()),
            };
            if let Err(e) = fencer.options().check_device(&spec) {
                return fail(id, ErrorCode::Invalid, e.to_string());
            }
            if let Err(e) = resolve_agent(&spec.agent, agent_dirs) {
                return fail(id, ErrorCode::Invalid, e.to_string());
            }
            let info = device_info(&spec);
            fencer.register_device(spec);
            let notice = Notice::DeviceRegistered { device: name };
            (Response::success(id, &info), Some(notice))
        }
        Request::UnregisterDevice { name } => match fencer.unregister_device(&name) {
            Ok(spec) => (
                Response::success(id, &device_info(&spec)),
                Some(Notice::DeviceUnregistered { device: name }),
            ),
            Err(e) => fail(id, ErrorCode::UnknownDevice, e.to_string()),
        },
        Request::Levels {} => (Response::success(id, &levels(fencer)), None),
        Request::RegisterLevel {
            target,
            index,
            devices,
        } => {
            let text = target.to_string();
            match fencer.register_level(target, index, devices) {
                Ok(()) => (
                    Response::success(id, &levels(fencer)),
                    Some(Notice::TopologyChanged { target: text }),
                ),
                Err(e) => fail(id, ErrorCode::Invalid, e.to_string()),
            }
        }
        Request::UnregisterLevel { target, index } => {
            if fencer.unregister_level(&target, index) {
                let text = target.to_string();
                (
                    Response::success(id, &levels(fencer)),
                    Some(Notice::TopologyChanged { target: text }),
                )
            } else {
                fail(
                    id,
                    ErrorCode::Invalid,
                    format!("no such level for {target}"),
                )
            }
        }
        other => fail(
            id,
            ErrorCode::Internal,
            format!("{} is not a registry request", other.kind()),
        ),
    }
}

fn levels(fencer: &Fencer) -> LevelsResult {
    LevelsResult {
        topology: fencer
            .topology()
            .all()
            .into_iter()
            .map(|(target, levels)| TopologyEntry { target, levels })
            .collect(),
    }
}

/// How the API shows a device (secrets masked).
pub fn device_info(spec: &DeviceSpec) -> DeviceInfo {
    let mut hosts: Vec<String> = spec.host_list.clone();
    for node in spec.host_map.nodes() {
        if !hosts.iter().any(|h| h.eq_ignore_ascii_case(node)) {
            hosts.push(node.to_string());
        }
    }
    DeviceInfo {
        name: spec.name.clone(),
        agent: spec.agent.clone(),
        priority: spec.priority,
        host_check: spec.host_check.as_str().to_string(),
        hosts,
        action_limit: spec.action_limit,
        params: spec
            .params
            .iter()
            .map(|(k, v)| {
                let shown = if is_secret(k) {
                    "****".to_string()
                } else {
                    v.clone()
                };
                (k.clone(), shown)
            })
            .collect(),
        health: None,
    }
}
