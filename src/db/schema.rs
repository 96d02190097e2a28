// One schema for both backends, written by hand: times are `Timestamp` holding UTC (the
// multi-backend connection cannot carry `Timestamptz`), ids are 64-bit.

diesel::table! {
    departments (id) {
        id -> BigInt,
        code -> Text,
        name -> Text,
        parent_id -> Nullable<BigInt>,
        kind -> Text,
        contact_person -> Nullable<Text>,
        contact_phone -> Nullable<Text>,
        active -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    categories (id) {
        id -> BigInt,
        code -> Text,
        name -> Text,
        parent_id -> Nullable<BigInt>,
        default_department_id -> Nullable<BigInt>,
        active -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    users (id) {
        id -> BigInt,
        username -> Text,
        display_name -> Text,
        role -> Text,
        department_id -> Nullable<BigInt>,
        phone -> Nullable<Text>,
        password_hash -> Text,
        active -> Bool,
        password_changed_at -> Timestamp,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        session_epoch -> BigInt,
    }
}

diesel::table! {
    refresh_tokens (id) {
        id -> BigInt,
        user_id -> BigInt,
        family -> Text,
        token_hash -> Text,
        issued_at -> Timestamp,
        expires_at -> Timestamp,
        rotated_at -> Nullable<Timestamp>,
        revoked_at -> Nullable<Timestamp>,
        session_epoch -> BigInt,
    }
}

diesel::table! {
    login_throttle (username) {
        username -> Text,
        failures -> Integer,
        window_started_at -> Timestamp,
        locked_until -> Nullable<Timestamp>,
    }
}

diesel::table! {
    integration_clients (id) {
        id -> BigInt,
        client_id -> Text,
        name -> Text,
        secret_hash -> Text,
        active -> Bool,
        created_by -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        all_cases -> Bool,
    }
}

diesel::table! {
    calendar_years (year) {
        year -> Integer,
        rules -> Text,
        revision -> BigInt,
        updated_by -> Nullable<BigInt>,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    sla_policies (version) {
        version -> Integer,
        rules -> Text,
        created_by -> Nullable<BigInt>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    cases (id) {
        id -> BigInt,
        case_no -> Text,
        channel -> Text,
        kind -> Text,
        urgency -> Text,
        category_id -> Nullable<BigInt>,
        title -> Text,
        description -> Text,
        address -> Nullable<Text>,
        district_id -> Nullable<BigInt>,
        latitude -> Nullable<Double>,
        longitude -> Nullable<Double>,
        occurred_at -> Nullable<Timestamp>,
        status -> Text,
        closure -> Nullable<Text>,
        resolution -> Nullable<Text>,
        citizen_id -> Nullable<BigInt>,
        registered_by -> Nullable<BigInt>,
        source_client -> Nullable<BigInt>,
        external_ref -> Nullable<Text>,
        version -> Integer,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        accepted_at -> Nullable<Timestamp>,
        closed_at -> Nullable<Timestamp>,
        current_round -> Integer,
        lead_department_id -> Nullable<BigInt>,
        reply_due_at -> Nullable<Timestamp>,
        merged_into -> Nullable<BigInt>,
        redo_count -> Integer,
        dispatched_at -> Nullable<Timestamp>,
        reviewed_at -> Nullable<Timestamp>,
        address_key -> Nullable<BigInt>,
    }
}

diesel::table! {
    assignments (id) {
        id -> BigInt,
        case_id -> BigInt,
        department_id -> BigInt,
        round -> Integer,
        role -> Text,
        mode -> Text,
        assigned -> Bool,
        instructions -> Nullable<Text>,
        state -> Text,
        dispatched_by -> Nullable<BigInt>,
        dispatched_at -> Timestamp,
        sign_due_at -> Timestamp,
        reply_due_at -> Timestamp,
        handler_id -> Nullable<BigInt>,
        signed_by -> Nullable<BigInt>,
        signed_at -> Nullable<Timestamp>,
        returned_by -> Nullable<BigInt>,
        returned_at -> Nullable<Timestamp>,
        return_reason -> Nullable<Text>,
        ruling -> Nullable<Text>,
        ruling_note -> Nullable<Text>,
        ruled_at -> Nullable<Timestamp>,
        reply -> Nullable<Text>,
        replied_by -> Nullable<BigInt>,
        replied_at -> Nullable<Timestamp>,
        review_decision -> Nullable<Text>,
        review_note -> Nullable<Text>,
        reviewed_at -> Nullable<Timestamp>,
        version -> Integer,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    deadlines (id) {
        id -> BigInt,
        kind -> Text,
        case_id -> BigInt,
        assignment_id -> Nullable<BigInt>,
        department_id -> Nullable<BigInt>,
        starts_at -> Timestamp,
        due_at -> Timestamp,
        policy_version -> Nullable<Integer>,
        period -> Text,
        beyond_calendar -> Bool,
        state -> Text,
        met_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        due_soon_at -> Nullable<Timestamp>,
        due_soon_marked_at -> Nullable<Timestamp>,
        missed_marked_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    complainants (case_id) {
        case_id -> BigInt,
        name -> Nullable<Text>,
        phone -> Nullable<Text>,
        contact_address -> Nullable<Text>,
        contact_allowed -> Bool,
        confidential -> Bool,
        anonymous -> Bool,
    }
}

diesel::table! {
    case_events (id) {
        id -> BigInt,
        case_id -> BigInt,
        occurred_at -> Timestamp,
        actor_user_id -> Nullable<BigInt>,
        actor_client_id -> Nullable<BigInt>,
        actor_role -> Text,
        action -> Text,
        status_before -> Nullable<Text>,
        status_after -> Nullable<Text>,
        details -> Text,
    }
}

diesel::table! {
    case_counters (day) {
        day -> Text,
        last_value -> BigInt,
    }
}

diesel::table! {
    personal_data_reads (id) {
        id -> BigInt,
        case_id -> BigInt,
        user_id -> BigInt,
        role -> Text,
        read_at -> Timestamp,
    }
}

diesel::table! {
    personal_data_exports (id) {
        id -> BigInt,
        user_id -> BigInt,
        role -> Text,
        format -> Text,
        filters -> Text,
        started_at -> Timestamp,
        finished_at -> Nullable<Timestamp>,
        completed -> Bool,
        rows_exported -> Nullable<BigInt>,
        rows_with_personal_data -> Nullable<BigInt>,
        first_case_id -> Nullable<BigInt>,
        last_case_id -> Nullable<BigInt>,
    }
}

diesel::table! {
    idempotent_requests (principal, key_digest) {
        principal -> Text,
        key_digest -> Text,
        request_hash -> Text,
        status -> Integer,
        sealed_response -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    idempotency_keys (principal, idempotency_key) {
        principal -> Text,
        idempotency_key -> Text,
        request_hash -> Text,
        status -> Integer,
        response -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    extensions (id) {
        id -> BigInt,
        deadline_id -> BigInt,
        assignment_id -> BigInt,
        case_id -> BigInt,
        department_id -> BigInt,
        requested_by -> BigInt,
        requested_at -> Timestamp,
        reason -> Text,
        working_days -> Integer,
        due_before -> Timestamp,
        state -> Text,
        decided_by -> Nullable<BigInt>,
        decided_at -> Nullable<Timestamp>,
        decision_note -> Nullable<Text>,
        new_due_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    supervisions (id) {
        id -> BigInt,
        kind -> Text,
        method -> Text,
        case_id -> BigInt,
        assignment_id -> BigInt,
        department_id -> BigInt,
        deadline_id -> Nullable<BigInt>,
        note -> Text,
        created_by -> Nullable<BigInt>,
        created_at -> Timestamp,
        response_deadline_id -> Nullable<BigInt>,
        explanation -> Nullable<Text>,
        explained_by -> Nullable<BigInt>,
        explained_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    follow_up_calls (id) {
        id -> BigInt,
        case_id -> BigInt,
        deadline_id -> BigInt,
        evaluated_case_id -> BigInt,
        round -> Integer,
        department_id -> Nullable<BigInt>,
        channel -> Text,
        outcome -> Text,
        resolved -> Nullable<Text>,
        satisfaction -> Nullable<Text>,
        citizen_words -> Nullable<Text>,
        effect -> Text,
        called_by -> BigInt,
        called_at -> Timestamp,
        recorded_at -> Timestamp,
    }
}

diesel::table! {
    survey_templates (id) {
        id -> BigInt,
        name -> Text,
        description -> Nullable<Text>,
        version -> Integer,
        replaces -> Nullable<BigInt>,
        superseded_by -> Nullable<BigInt>,
        is_default -> Bool,
        questions -> Text,
        created_by -> Nullable<BigInt>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    surveys (id) {
        id -> BigInt,
        case_id -> BigInt,
        template_id -> BigInt,
        token_hash -> Nullable<Text>,
        issued_by -> Nullable<BigInt>,
        issued_at -> Timestamp,
        expires_at -> Timestamp,
        answered_at -> Nullable<Timestamp>,
        answered_by -> Nullable<BigInt>,
        answers -> Nullable<Text>,
        resolved -> Nullable<Text>,
        satisfaction -> Nullable<Text>,
        channel -> Text,
        follow_up_call_id -> Nullable<BigInt>,
    }
}

diesel::table! {
    case_stat_facts (case_id) {
        case_id -> BigInt,
        facts -> Binary,
    }
}

diesel::table! {
    stat_day_changes (id) {
        id -> BigInt,
        dim -> SmallInt,
        day -> Integer,
        key -> Text,
        changes -> Binary,
    }
}

diesel::table! {
    stat_days (dim, day, key) {
        dim -> SmallInt,
        day -> Integer,
        key -> Text,
        figures -> Binary,
    }
}

diesel::table! {
    stat_settings (id) {
        id -> Integer,
        weights -> Text,
        max_reply_gap -> Integer,
        updated_by -> Nullable<BigInt>,
        updated_at -> Timestamp,
        days_format -> SmallInt,
    }
}

diesel::table! {
    attachments (id) {
        id -> BigInt,
        case_id -> Nullable<BigInt>,
        assignment_id -> Nullable<BigInt>,
        uploaded_by_user_id -> Nullable<BigInt>,
        uploaded_by_client_id -> Nullable<BigInt>,
        uploader_role -> Text,
        file_name -> Text,
        caption -> Nullable<Text>,
        media_type -> Text,
        size_bytes -> BigInt,
        sha256 -> Text,
        shareable -> Bool,
        uploaded_at -> Timestamp,
        removed_at -> Nullable<Timestamp>,
        removed_by_user_id -> Nullable<BigInt>,
        removal_reason -> Nullable<Text>,
        article_id -> Nullable<BigInt>,
    }
}

diesel::table! {
    knowledge_articles (id) {
        id -> BigInt,
        owner_department_id -> Nullable<BigInt>,
        latest_version -> Integer,
        published_version -> Nullable<Integer>,
        visibility -> Nullable<Text>,
        valid_from -> Nullable<Date>,
        valid_until -> Nullable<Date>,
        use_count -> BigInt,
        created_by_user_id -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        published_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    knowledge_versions (article_id, version) {
        article_id -> BigInt,
        version -> Integer,
        title -> Text,
        body -> Text,
        keywords -> Text,
        category_ids -> Text,
        owner_department_id -> Nullable<BigInt>,
        visibility -> Text,
        valid_from -> Nullable<Date>,
        valid_until -> Nullable<Date>,
        internal_note -> Nullable<Text>,
        attachment_ids -> Text,
        state -> Text,
        changed -> Text,
        change_note -> Nullable<Text>,
        created_by_user_id -> BigInt,
        created_at -> Timestamp,
        approved_by_user_id -> Nullable<BigInt>,
        approved_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    knowledge_article_categories (category_id, article_id) {
        category_id -> BigInt,
        article_id -> BigInt,
    }
}

diesel::table! {
    knowledge_uses (case_id) {
        case_id -> BigInt,
        article_id -> BigInt,
        version -> Integer,
        used_by_user_id -> Nullable<BigInt>,
        used_at -> Timestamp,
    }
}

diesel::joinable!(knowledge_versions -> knowledge_articles (article_id));
diesel::joinable!(knowledge_article_categories -> knowledge_articles (article_id));
diesel::joinable!(knowledge_uses -> knowledge_articles (article_id));

diesel::joinable!(complainants -> cases (case_id));
diesel::joinable!(assignments -> cases (case_id));
diesel::joinable!(deadlines -> assignments (assignment_id));
diesel::joinable!(case_events -> cases (case_id));
diesel::joinable!(users -> departments (department_id));
diesel::joinable!(categories -> departments (default_department_id));
diesel::joinable!(refresh_tokens -> users (user_id));
diesel::joinable!(integration_clients -> users (created_by));
diesel::joinable!(surveys -> cases (case_id));
diesel::joinable!(webhooks -> integration_clients (client_id));
diesel::joinable!(webhook_deliveries -> webhooks (webhook_id));
diesel::joinable!(webhook_deliveries -> webhook_events (event_id));
diesel::joinable!(webhook_attempts -> webhook_deliveries (delivery_id));
diesel::joinable!(attachments -> cases (case_id));
diesel::joinable!(surveys -> survey_templates (template_id));

diesel::table! {
    webhooks (id) {
        id -> BigInt,
        client_id -> BigInt,
        url -> Text,
        event_types -> Text,
        secret_sealed -> Text,
        active -> Bool,
        disabled_reason -> Nullable<Text>,
        failing_since -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    webhook_events (id) {
        id -> BigInt,
        case_id -> BigInt,
        event_type -> Text,
        case_seq -> BigInt,
        case_status -> Text,
        occurred_at -> Timestamp,
        payload -> Nullable<Text>,
        fanned_out_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    webhook_case_seqs (case_id) {
        case_id -> BigInt,
        seq -> BigInt,
    }
}

diesel::table! {
    webhook_deliveries (id) {
        id -> BigInt,
        webhook_id -> BigInt,
        event_id -> BigInt,
        state -> Text,
        attempts -> Integer,
        next_attempt_at -> Timestamp,
        created_at -> Timestamp,
        replay_of -> Nullable<BigInt>,
    }
}

diesel::table! {
    webhook_attempts (id) {
        id -> BigInt,
        delivery_id -> BigInt,
        attempted_at -> Timestamp,
        duration_ms -> Integer,
        status_code -> Nullable<Integer>,
        error -> Nullable<Text>,
        response_excerpt -> Nullable<Text>,
    }
}

diesel::allow_tables_to_appear_in_same_query!(
    webhooks,
    webhook_events,
    webhook_case_seqs,
    webhook_deliveries,
    webhook_attempts,
    departments,
    categories,
    users,
    refresh_tokens,
    login_throttle,
    integration_clients,
    calendar_years,
    sla_policies,
    cases,
    complainants,
    case_events,
    case_counters,
    personal_data_reads,
    personal_data_exports,
    idempotency_keys,
    assignments,
    deadlines,
    extensions,
    supervisions,
    follow_up_calls,
    survey_templates,
    surveys,
    case_stat_facts,
    stat_day_changes,
    stat_days,
    stat_settings,
    attachments,
    knowledge_articles,
    knowledge_versions,
    knowledge_article_categories,
    knowledge_uses,
);
