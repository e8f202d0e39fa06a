//! The nginx side, the only `unsafe` code of the module: the module's
//! tables, the directives, the access-phase handler and the variables.
//! Each entry point runs its body under `catch_unwind`, so no panic crosses
//! into nginx; per request it allocates only from the request's pool.

use std::ffi::{c_char, c_void};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::rc::Rc;

use ngx::core::{self, NGX_CONF_ERROR, NGX_CONF_OK, Status};
use ngx::ffi::{
    NGX_CONF_TAKE1, NGX_HTTP_LOC_CONF, NGX_HTTP_LOC_CONF_OFFSET, NGX_HTTP_MAIN_CONF,
    NGX_HTTP_MODULE, NGX_HTTP_SRV_CONF, NGX_LOG_EMERG, NGX_LOG_ERR, ngx_array_push, ngx_command_t,
    ngx_conf_t, ngx_http_add_variable, ngx_http_handler_pt, ngx_http_module_t,
    ngx_http_phases_NGX_HTTP_ACCESS_PHASE, ngx_http_request_t, ngx_http_variable_t, ngx_int_t,
    ngx_module_t, ngx_str_t, ngx_uint_t, ngx_variable_value_t,
};
use ngx::http::{
    HTTPStatus, HttpModule, HttpModuleLocationConf, HttpModuleMainConf, Merge, MergeConfigError,
    NgxHttpCoreModule, Request,
};
use ngx::{ngx_conf_log_error, ngx_log_error, ngx_string};
use time::OffsetDateTime;

use crate::guard::{Guard, NO_TOKEN, Settings, credential};
use crate::refresh::Refresh;

struct Module;

/// One location's configuration: what its directives said, and the guard
/// built from them (shared with inner locations that change nothing).
#[derive(Default)]
struct LocationConf {
    settings: Settings,
    require: Option<bool>,
    guard: Option<Rc<Guard>>,
}

impl Merge for LocationConf {
    fn merge(&mut self, outer: &LocationConf) -> Result<(), MergeConfigError> {
        self.require = self.require.or(outer.require);
        self.settings.inherit(&outer.settings);
        if self.settings.ring.is_none() {
            return Ok(());
        }
        self.guard = match &outer.guard {
            Some(guard) if *guard.settings() == self.settings => Some(guard.clone()),
            _ => match Guard::load(self.settings.clone()) {
                Ok(guard) => Some(Rc::new(guard)),
                Err(error) => {
                    eprintln!("nginx: [emerg] {error}");
                    return Err(MergeConfigError::NoValue);
                }
            },
        };
        Ok(())
    }
}

/// What one request's check found, kept in the request's pool: `Copy`, so
/// nothing needs dropping.
#[derive(Clone, Copy)]
struct Outcome {
    user: *const u8,
    user_len: usize,
    set_cookie: *const u8,
    set_cookie_len: usize,
    reason: &'static str,
}

impl HttpModule for Module {
    fn module() -> &'static ngx_module_t {
        unsafe { &*std::ptr::addr_of!(ngx_http_etoken_module) }
    }

    unsafe extern "C" fn preconfiguration(cf: *mut ngx_conf_t) -> ngx_int_t {
        for variable in unsafe { (*std::ptr::addr_of_mut!(VARIABLES)).iter_mut() } {
            let added = unsafe { ngx_http_add_variable(cf, &mut variable.name, variable.flags) };
            if added.is_null() {
                return Status::NGX_ERROR.into();
            }
            unsafe {
                (*added).get_handler = variable.get_handler;
                (*added).data = variable.data;
            }
        }
        Status::NGX_OK.into()
    }

    unsafe extern "C" fn postconfiguration(cf: *mut ngx_conf_t) -> ngx_int_t {
        let cf = unsafe { &mut *cf };
        let Some(core) = NgxHttpCoreModule::main_conf_mut(cf) else {
            return Status::NGX_ERROR.into();
        };
        let handler = unsafe {
            ngx_array_push(
                &mut core.phases[ngx_http_phases_NGX_HTTP_ACCESS_PHASE as usize].handlers,
            )
        } as *mut ngx_http_handler_pt;
        if handler.is_null() {
            return Status::NGX_ERROR.into();
        }
        unsafe { *handler = Some(access_handler) };
        Status::NGX_OK.into()
    }
}

unsafe impl HttpModuleLocationConf for Module {
    type LocationConf = LocationConf;
}

const CONTEXTS: u32 = NGX_HTTP_MAIN_CONF | NGX_HTTP_SRV_CONF | NGX_HTTP_LOC_CONF | NGX_CONF_TAKE1;

const fn command(
    name: ngx_str_t,
    set: unsafe extern "C" fn(*mut ngx_conf_t, *mut ngx_command_t, *mut c_void) -> *mut c_char,
) -> ngx_command_t {
    ngx_command_t {
        name,
        type_: CONTEXTS as ngx_uint_t,
        set: Some(set),
        conf: NGX_HTTP_LOC_CONF_OFFSET,
        offset: 0,
        post: std::ptr::null_mut(),
    }
}

static mut COMMANDS: [ngx_command_t; 9] = [
    command(ngx_string!("etoken_ring"), set_ring),
    command(ngx_string!("etoken_audience"), set_audience),
    command(ngx_string!("etoken_leeway"), set_leeway),
    command(ngx_string!("etoken_users"), set_users),
    command(ngx_string!("etoken_require"), set_require),
    command(ngx_string!("etoken_refresh"), set_refresh),
    command(ngx_string!("etoken_lifetime"), set_lifetime),
    command(ngx_string!("etoken_max_session"), set_max_session),
    ngx_command_t::empty(),
];

static mut VARIABLES: [ngx_http_variable_t; 3] = [
    ngx_http_variable_t {
        name: ngx_string!("etoken_user"),
        set_handler: None,
        get_handler: Some(user_variable),
        data: 0,
        flags: 0,
        index: 0,
    },
    ngx_http_variable_t {
        name: ngx_string!("etoken_reason"),
        set_handler: None,
        get_handler: Some(reason_variable),
        data: 0,
        flags: 0,
        index: 0,
    },
    ngx_http_variable_t {
        name: ngx_string!("etoken_set_cookie"),
        set_handler: None,
        get_handler: Some(set_cookie_variable),
        data: 0,
        flags: 0,
        index: 0,
    },
];

static MODULE_CTX: ngx_http_module_t = ngx_http_module_t {
    preconfiguration: Some(Module::preconfiguration),
    postconfiguration: Some(Module::postconfiguration),
    create_main_conf: None,
    init_main_conf: None,
    create_srv_conf: None,
    merge_srv_conf: None,
    create_loc_conf: Some(Module::create_loc_conf),
    merge_loc_conf: Some(Module::merge_loc_conf),
};

ngx::ngx_modules!(ngx_http_etoken_module);

#[used]
#[allow(non_upper_case_globals)]
pub static mut ngx_http_etoken_module: ngx_module_t = ngx_module_t {
    ctx: std::ptr::addr_of!(MODULE_CTX) as _,
    commands: unsafe { &COMMANDS[0] as *const _ as *mut _ },
    type_: NGX_HTTP_MODULE as _,
    ..ngx_module_t::default()
};

/// Runs a directive's parser on its one argument; an error is logged
/// where nginx logs configuration errors, with the file and line.
unsafe fn directive(
    cf: *mut ngx_conf_t,
    conf: *mut c_void,
    parse: impl FnOnce(&mut LocationConf, &str) -> Result<(), String>,
) -> *mut c_char {
    let result = catch_unwind(AssertUnwindSafe(|| {
        let conf = unsafe { &mut *(conf as *mut LocationConf) };
        let args: &[ngx_str_t] = unsafe { (*(*cf).args).as_slice() };
        let value = args
            .get(1)
            .and_then(|arg| arg.to_str().ok())
            .ok_or("argument is not UTF-8")?;
        parse(conf, value)
    }));
    match result {
        Ok(Ok(())) => NGX_CONF_OK,
        Ok(Err(error)) => {
            ngx_conf_log_error!(NGX_LOG_EMERG, cf, "{}", error);
            NGX_CONF_ERROR
        }
        Err(_) => NGX_CONF_ERROR,
    }
}

fn once<T>(slot: &mut Option<T>, value: T) -> Result<(), String> {
    if slot.is_some() {
        return Err("is duplicate".to_owned());
    }
    *slot = Some(value);
    Ok(())
}

unsafe extern "C" fn set_ring(
    cf: *mut ngx_conf_t,
    _: *mut ngx_command_t,
    conf: *mut c_void,
) -> *mut c_char {
    unsafe {
        directive(cf, conf, |c, v| {
            once(&mut c.settings.ring, PathBuf::from(v))
        })
    }
}

unsafe extern "C" fn set_audience(
    cf: *mut ngx_conf_t,
    _: *mut ngx_command_t,
    conf: *mut c_void,
) -> *mut c_char {
    unsafe {
        directive(cf, conf, |c, v| {
            once(&mut c.settings.audience, v.to_owned())
        })
    }
}

unsafe extern "C" fn set_users(
    cf: *mut ngx_conf_t,
    _: *mut ngx_command_t,
    conf: *mut c_void,
) -> *mut c_char {
    unsafe {
        directive(cf, conf, |c, v| {
            once(&mut c.settings.users, PathBuf::from(v))
        })
    }
}

unsafe extern "C" fn set_leeway(
    cf: *mut ngx_conf_t,
    _: *mut ngx_command_t,
    conf: *mut c_void,
) -> *mut c_char {
    unsafe {
        directive(cf, conf, |c, v| {
            let seconds = v
                .parse()
                .map_err(|_| format!("etoken_leeway {v:?}: expected whole seconds"))?;
            once(&mut c.settings.leeway, seconds)
        })
    }
}

fn seconds(directive: &str, v: &str) -> Result<u64, String> {
    v.parse()
        .ok()
        .filter(|&s: &u64| s > 0)
        .ok_or_else(|| format!("{directive} {v:?}: expected whole seconds, at least 1"))
}

unsafe extern "C" fn set_lifetime(
    cf: *mut ngx_conf_t,
    _: *mut ngx_command_t,
    conf: *mut c_void,
) -> *mut c_char {
    unsafe {
        directive(cf, conf, |c, v| {
            once(&mut c.settings.lifetime, seconds("etoken_lifetime", v)?)
        })
    }
}

unsafe extern "C" fn set_max_session(
    cf: *mut ngx_conf_t,
    _: *mut ngx_command_t,
    conf: *mut c_void,
) -> *mut c_char {
    unsafe {
        directive(cf, conf, |c, v| {
            once(
                &mut c.settings.max_session,
                seconds("etoken_max_session", v)?,
            )
        })
    }
}

unsafe extern "C" fn set_refresh(
    cf: *mut ngx_conf_t,
    _: *mut ngx_command_t,
    conf: *mut c_void,
) -> *mut c_char {
    unsafe {
        directive(cf, conf, |c, v| match v {
            "on" => once(&mut c.settings.refresh, Some(Refresh::Secure)),
            "insecure" => once(&mut c.settings.refresh, Some(Refresh::Insecure)),
            "off" => once(&mut c.settings.refresh, None),
            _ => Err(format!(
                "etoken_refresh {v:?}: expected on, insecure or off"
            )),
        })
    }
}

unsafe extern "C" fn set_require(
    cf: *mut ngx_conf_t,
    _: *mut ngx_command_t,
    conf: *mut c_void,
) -> *mut c_char {
    unsafe {
        directive(cf, conf, |c, v| match v {
            "on" => once(&mut c.require, true),
            "off" => once(&mut c.require, false),
            _ => Err(format!("etoken_require {v:?}: expected on or off")),
        })
    }
}

/// The request's outcome: computed once, then kept in the request's
/// module context (pool memory).
fn outcome(request: &Request) -> Option<Outcome> {
    if let Some(found) = request.get_module_ctx::<Outcome>(Module::module()) {
        return Some(*found);
    }
    let conf = Module::location_conf(request)?;
    let pool = request.pool();
    let mut found = Outcome {
        user: std::ptr::null(),
        user_len: 0,
        set_cookie: std::ptr::null(),
        set_cookie_len: 0,
        reason: "not_configured",
    };
    if let Some(guard) = &conf.guard {
        let headers = request
            .headers_in_iterator()
            .map(|(name, value)| (name.as_bytes(), value.as_bytes()));
        found.reason = NO_TOKEN;
        match credential(headers) {
            Ok(None) => {}
            Err(reason) => found.reason = reason,
            Ok(Some(token)) => {
                let mut log = None;
                let copy = |bytes: &[u8]| {
                    let memory = pool.alloc_unaligned(bytes.len().max(1)) as *mut u8;
                    if !memory.is_null() {
                        unsafe {
                            std::ptr::copy_nonoverlapping(bytes.as_ptr(), memory, bytes.len())
                        };
                    }
                    (memory as *const u8, bytes.len())
                };
                let checked =
                    guard.check(&token, OffsetDateTime::now_utc(), &mut log, |accepted| {
                        let user = copy(accepted.subject.as_bytes());
                        let set_cookie = accepted
                            .set_cookie
                            .as_deref()
                            .map_or((std::ptr::null(), 0), |value| copy(value.as_bytes()));
                        (user, set_cookie)
                    });
                if let Some(message) = log {
                    ngx_log_error!(NGX_LOG_ERR, request.log(), "{}", message);
                }
                match checked {
                    Ok(((user, user_len), (set_cookie, set_cookie_len))) => {
                        if user.is_null() || (set_cookie_len > 0 && set_cookie.is_null()) {
                            return None; // the pool is out of memory
                        }
                        found = Outcome {
                            user,
                            user_len,
                            set_cookie,
                            set_cookie_len,
                            reason: "",
                        };
                    }
                    Err(refusal) => {
                        found.reason = refusal.reason;
                        if let Some(clear) = refusal.clear_cookie {
                            let (set_cookie, set_cookie_len) = copy(clear.as_bytes());
                            if set_cookie.is_null() {
                                return None;
                            }
                            (found.set_cookie, found.set_cookie_len) = (set_cookie, set_cookie_len);
                        }
                    }
                }
            }
        }
    }
    let slot = pool.alloc_type::<Outcome>();
    if slot.is_null() {
        return None;
    }
    unsafe { slot.write(found) };
    request.set_module_ctx(slot as *mut c_void, Module::module());
    Some(found)
}

/// `etoken_require on`: a request without an accepted token gets 401.
unsafe extern "C" fn access_handler(r: *mut ngx_http_request_t) -> ngx_int_t {
    let status = catch_unwind(AssertUnwindSafe(|| {
        let request = unsafe { Request::from_ngx_http_request(r) };
        let Some(conf) = Module::location_conf(request) else {
            return Status::NGX_DECLINED;
        };
        if conf.require != Some(true) {
            return Status::NGX_DECLINED;
        }
        match outcome(request) {
            Some(found) if found.user_len > 0 => Status::NGX_DECLINED,
            Some(_) => HTTPStatus::UNAUTHORIZED.into(),
            None => Status::NGX_ERROR,
        }
    }));
    status.unwrap_or(Status::NGX_ERROR).0
}

/// Sets variable `v` to `bytes` (which live as long as the request).
unsafe fn set_value(v: *mut ngx_variable_value_t, data: *const u8, len: usize) {
    unsafe {
        (*v).set_valid(1);
        (*v).set_no_cacheable(0);
        (*v).set_not_found(0);
        (*v).set_len(len as u32);
        (*v).data = data as *mut u8;
    }
}

unsafe fn variable(
    r: *mut ngx_http_request_t,
    v: *mut ngx_variable_value_t,
    pick: fn(&Outcome) -> (*const u8, usize),
) -> ngx_int_t {
    let result = catch_unwind(AssertUnwindSafe(|| {
        let request = unsafe { Request::from_ngx_http_request(r) };
        outcome(request).map(|found| pick(&found))
    }));
    match result {
        Ok(Some((data, len))) => {
            unsafe { set_value(v, if len == 0 { b"".as_ptr() } else { data }, len) };
            core::Status::NGX_OK.0
        }
        _ => Status::NGX_ERROR.0,
    }
}

unsafe extern "C" fn user_variable(
    r: *mut ngx_http_request_t,
    v: *mut ngx_variable_value_t,
    _: usize,
) -> ngx_int_t {
    unsafe { variable(r, v, |found| (found.user, found.user_len)) }
}

unsafe extern "C" fn set_cookie_variable(
    r: *mut ngx_http_request_t,
    v: *mut ngx_variable_value_t,
    _: usize,
) -> ngx_int_t {
    unsafe { variable(r, v, |found| (found.set_cookie, found.set_cookie_len)) }
}

unsafe extern "C" fn reason_variable(
    r: *mut ngx_http_request_t,
    v: *mut ngx_variable_value_t,
    _: usize,
) -> ngx_int_t {
    unsafe { variable(r, v, |found| (found.reason.as_ptr(), found.reason.len())) }
}
